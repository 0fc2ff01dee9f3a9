// SPDX-License-Identifier: GPL-2.0-only
/*
 * The "pvkit" bus: one struct pvkit_device per used, valid device-table
 * slot, kept in step with the host's table through rescans under the
 * generation seqcount (ABI.md sections 2.2 and 6), plus the device API of
 * pvkit/bus.h.
 *
 * The host may be hostile.  The table is copied between two equal, even
 * reads of the generation; every entry is validated on the copy; the
 * struct pvkit_device a driver sees holds only validated values.
 *
 * Copyright (c) 2026 The pvkit authors
 */
#include <linux/delay.h>
#include <linux/device.h>
#include <linux/errno.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/workqueue.h>
#include <pvkit/ring.h>

#include "core.h"

/* Tries to read a stable table before backing off for a while. */
#define PVKIT_SNAPSHOT_TRIES	64
#define PVKIT_RESCAN_DELAY	(HZ / 10)

/* A parsed, validated device table entry. */
struct pvkit_entry_view {
	u16 type;
	u16 instance;
	u32 state;
	u32 epoch;
	u64 features;
	u16 nr_queues;
	u16 config_size;
	u8 config[PVKIT_DEV_CONFIG_SIZE];
	struct pvkit_queue_info queues[PVKIT_MAX_QUEUES];
};

static const char * const pvkit_type_names[] = {
	[PVKIT_DEV_TEST]	= "test",
	[PVKIT_DEV_BLK]		= "blk",
	[PVKIT_DEV_NET]		= "net",
	[PVKIT_DEV_BALLOON]	= "balloon",
	[PVKIT_DEV_CLOCK]	= "clock",
};

static const char * const pvkit_state_names[] = {
	[PVKIT_DEV_STATE_FREE]		= "free",
	[PVKIT_DEV_STATE_OFFERED]	= "offered",
	[PVKIT_DEV_STATE_CONNECTED]	= "connected",
	[PVKIT_DEV_STATE_RESETTING]	= "resetting",
	[PVKIT_DEV_STATE_CLOSING]	= "closing",
	[PVKIT_DEV_STATE_BROKEN]	= "broken",
};

/* Name of a known device type, NULL for an unknown one. */
const char *pvkit_type_name(u16 type)
{
	if (type < ARRAY_SIZE(pvkit_type_names))
		return pvkit_type_names[type];
	return NULL;
}

const char *pvkit_state_name(u32 state)
{
	if (state < ARRAY_SIZE(pvkit_state_names))
		return pvkit_state_names[state];
	return "unknown";
}

/* ------------------------------------------------------------- sysfs --- */

static ssize_t type_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%u\n", to_pvkit_device(dev)->type);
}
static DEVICE_ATTR_RO(type);

static ssize_t instance_show(struct device *dev,
			     struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", to_pvkit_device(dev)->instance);
}
static DEVICE_ATTR_RO(instance);

static ssize_t slot_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%u\n", to_pvkit_device(dev)->index);
}
static DEVICE_ATTR_RO(slot);

static ssize_t state_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	u32 state = READ_ONCE(to_pvkit_device(dev)->state);

	return sysfs_emit(buf, "%s\n", pvkit_state_name(state));
}
static DEVICE_ATTR_RO(state);

static ssize_t features_show(struct device *dev,
			     struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "0x%016llx\n", to_pvkit_device(dev)->features);
}
static DEVICE_ATTR_RO(features);

static ssize_t acked_features_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	u64 acked = READ_ONCE(to_pvkit_device(dev)->acked_features);

	return sysfs_emit(buf, "0x%016llx\n", acked);
}
static DEVICE_ATTR_RO(acked_features);

static ssize_t nr_queues_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", to_pvkit_device(dev)->nr_queues);
}
static DEVICE_ATTR_RO(nr_queues);

static ssize_t epoch_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(to_pvkit_device(dev)->epoch));
}
static DEVICE_ATTR_RO(epoch);

static ssize_t modalias_show(struct device *dev,
			     struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "pvkit:t%u\n", to_pvkit_device(dev)->type);
}
static DEVICE_ATTR_RO(modalias);

static struct attribute *pvkit_dev_attrs[] = {
	&dev_attr_type.attr,
	&dev_attr_instance.attr,
	&dev_attr_slot.attr,
	&dev_attr_state.attr,
	&dev_attr_features.attr,
	&dev_attr_acked_features.attr,
	&dev_attr_nr_queues.attr,
	&dev_attr_epoch.attr,
	&dev_attr_modalias.attr,
	NULL,
};
ATTRIBUTE_GROUPS(pvkit_dev);

/* ---------------------------------------------------------- bus type --- */

static int pvkit_bus_match(struct device *dev, struct device_driver *drv)
{
	return to_pvkit_device(dev)->type == to_pvkit_driver(drv)->type;
}

static int pvkit_bus_uevent(struct device *dev, struct kobj_uevent_env *env)
{
	return add_uevent_var(env, "MODALIAS=pvkit:t%u",
			      to_pvkit_device(dev)->type);
}

/* Undo what a driver left behind: bound queue irqs, a live connection. */
static void pvkit_dev_cleanup(struct pvkit_device *pdev)
{
	struct pvkit_dev_priv *pd = to_pvkit_priv(pdev);
	unsigned int q;

	for (q = 0; q < PVKIT_MAX_QUEUES; q++) {
		struct pvkit_queue_state *qs = &pd->qs[q];

		if (!qs->irq)
			continue;
		dev_warn(&pdev->dev, "driver left queue %u irq bound\n", q);
		irq_update_affinity_hint(qs->irq, NULL);
		free_irq(qs->irq, qs);
		qs->irq = 0;
		qs->handler = NULL;
		qs->data = NULL;
	}
	/* a freed slot may already hold another device: leave it alone */
	if (READ_ONCE(pd->connected) &&
	    READ_ONCE(pdev->state) != PVKIT_DEV_STATE_FREE)
		pvkit_dev_disconnect(pdev);
}

static int pvkit_bus_probe(struct device *dev)
{
	struct pvkit_driver *drv = to_pvkit_driver(dev->driver);
	struct pvkit_device *pdev = to_pvkit_device(dev);
	int err;

	if (!drv->probe)
		return -ENODEV;
	err = drv->probe(pdev);
	if (err)
		pvkit_dev_cleanup(pdev);
	return err;
}

static void pvkit_bus_remove(struct device *dev)
{
	struct pvkit_driver *drv = to_pvkit_driver(dev->driver);
	struct pvkit_device *pdev = to_pvkit_device(dev);

	if (drv->remove)
		drv->remove(pdev);
	pvkit_dev_cleanup(pdev);
}

static struct bus_type pvkit_bus_type = {
	.name		= "pvkit",
	.dev_groups	= pvkit_dev_groups,
	.match		= pvkit_bus_match,
	.uevent		= pvkit_bus_uevent,
	.probe		= pvkit_bus_probe,
	.remove		= pvkit_bus_remove,
};

int pvkit_bus_init(void)
{
	return bus_register(&pvkit_bus_type);
}

void pvkit_bus_exit(void)
{
	bus_unregister(&pvkit_bus_type);
}

int __pvkit_register_driver(struct pvkit_driver *drv, struct module *owner)
{
	if (!drv->driver.name || !drv->probe)
		return -EINVAL;
	drv->driver.bus = &pvkit_bus_type;
	drv->driver.owner = owner;
	return driver_register(&drv->driver);
}
EXPORT_SYMBOL_NS_GPL(__pvkit_register_driver, PVKIT);

void pvkit_unregister_driver(struct pvkit_driver *drv)
{
	driver_unregister(&drv->driver);
}
EXPORT_SYMBOL_NS_GPL(pvkit_unregister_driver, PVKIT);

/* ---------------------------------------------------- table parsing --- */

static __printf(3, 4) int pvkit_refuse(struct pvkit_core *core,
				       unsigned int slot, const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	dev_warn_ratelimited(&core->pci->dev, "device slot %u refused: %pV\n",
			     slot, &vaf);
	va_end(args);
	atomic64_inc(&core->stats.bad_entries);
	return -EINVAL;
}

static bool pvkit_overlap(u64 a, u64 alen, u64 b, u64 blen)
{
	return a < b + blen && b < a + alen;
}

/*
 * Is [off, off + len) inside the shared region and clear of the info page,
 * the mailboxes and the device table?
 */
static bool pvkit_ring_area_ok(const struct pvkit_layout *l, u64 off, u64 len)
{
	if (off > l->shm_size || len > l->shm_size - off)
		return false;
	if (pvkit_overlap(off, len, PVKIT_INFO_OFFSET, PVKIT_PAGE_SIZE))
		return false;
	if (pvkit_overlap(off, len, l->mailbox_offset,
			  (u64)l->nr_mailboxes * sizeof(struct pvkit_mailbox)))
		return false;
	if (pvkit_overlap(off, len, l->devtab_offset,
			  (u64)l->devtab_entries *
			  sizeof(struct pvkit_dev_entry)))
		return false;
	return true;
}

static int pvkit_queue_parse(struct pvkit_core *core, unsigned int slot,
			     unsigned int q, const struct pvkit_queue_desc *d,
			     struct pvkit_entry_view *v)
{
	const struct pvkit_layout *l = &core->lay;
	struct pvkit_queue_info *qi = &v->queues[q];
	unsigned int j;
	u64 bytes;

	qi->ring_offset = le32_to_cpu(d->ring_offset);
	qi->slots = le32_to_cpu(d->ring_slots);
	qi->req_size = le16_to_cpu(d->req_size);
	qi->rsp_size = le16_to_cpu(d->rsp_size);
	qi->kick = le16_to_cpu(d->kick);
	qi->vector = le16_to_cpu(d->vector);

	if (!pvkit_ring_geometry_ok(qi->slots, qi->req_size, qi->rsp_size))
		return pvkit_refuse(core, slot,
				    "queue %u: bad ring geometry %u x %u/%u",
				    q, qi->slots, qi->req_size, qi->rsp_size);
	bytes = pvkit_ring_bytes(qi->slots, qi->req_size, qi->rsp_size);
	if (qi->ring_offset % SMP_CACHE_BYTES ||
	    !pvkit_ring_area_ok(l, qi->ring_offset, bytes))
		return pvkit_refuse(core, slot,
				    "queue %u: ring at 0x%x (0x%llx bytes) outside the rings area",
				    q, qi->ring_offset, bytes);
	if (qi->kick >= l->nr_kicks || qi->kick == l->kick_hypercall)
		return pvkit_refuse(core, slot, "queue %u: bad kick channel %u",
				    q, qi->kick);
	if (qi->vector >= core->nr_irqs || qi->vector == l->vec_config ||
	    qi->vector == l->vec_hypercall)
		return pvkit_refuse(core, slot, "queue %u: bad vector %u",
				    q, qi->vector);
	for (j = 0; j < q; j++) {
		const struct pvkit_queue_info *o = &v->queues[j];

		if (o->vector == qi->vector)
			return pvkit_refuse(core, slot,
					    "queues %u and %u share vector %u",
					    j, q, qi->vector);
		if (pvkit_overlap(qi->ring_offset, bytes, o->ring_offset,
				  pvkit_ring_bytes(o->slots, o->req_size,
						   o->rsp_size)))
			return pvkit_refuse(core, slot,
					    "rings of queues %u and %u overlap",
					    j, q);
	}
	return 0;
}

/*
 * Parse and validate one entry of the private table copy.  0 for a device
 * to bind, -ENOENT for a free slot or an unknown type (ignored), -EINVAL
 * for an entry refused as malformed.
 */
static int pvkit_entry_parse(struct pvkit_core *core, unsigned int slot,
			     const struct pvkit_dev_entry *e,
			     struct pvkit_entry_view *v)
{
	unsigned int q;
	int err;

	memset(v, 0, sizeof(*v));
	v->type = le16_to_cpu(e->type);
	v->state = le32_to_cpu(e->state);
	if (v->type == PVKIT_DEV_NONE || v->state == PVKIT_DEV_STATE_FREE)
		return -ENOENT;
	if (!pvkit_type_name(v->type)) {
		dev_info_ratelimited(&core->pci->dev,
				     "device slot %u: unknown type %u ignored\n",
				     slot, v->type);
		return -ENOENT;
	}
	v->instance = le16_to_cpu(e->instance);
	v->epoch = le32_to_cpu(e->epoch);
	v->features = le64_to_cpu(e->features);
	v->nr_queues = le16_to_cpu(e->nr_queues);
	v->config_size = le16_to_cpu(e->config_size);

	if (v->state >= ARRAY_SIZE(pvkit_state_names))
		return pvkit_refuse(core, slot, "unknown state %u", v->state);
	if (v->nr_queues > PVKIT_MAX_QUEUES)
		return pvkit_refuse(core, slot, "%u queues", v->nr_queues);
	if (v->config_size > PVKIT_DEV_CONFIG_SIZE)
		return pvkit_refuse(core, slot, "config size %u",
				    v->config_size);
	/* only the valid part; the rest stays zero */
	memcpy(v->config, e->config, v->config_size);
	for (q = 0; q < v->nr_queues; q++) {
		err = pvkit_queue_parse(core, slot, q, &e->queues[q], v);
		if (err)
			return err;
	}
	return 0;
}

static bool pvkit_config_differs(const struct pvkit_device *pdev,
				 const struct pvkit_entry_view *v)
{
	return memcmp(pdev->config, v->config, sizeof(v->config));
}

/*
 * Can the bound driver take a config change in place?  Asked under the
 * device lock, as the driver may be unbinding.
 */
static bool pvkit_config_live(struct pvkit_device *pdev)
{
	struct pvkit_driver *drv;
	bool live;

	device_lock(&pdev->dev);
	drv = pdev->dev.driver ? to_pvkit_driver(pdev->dev.driver) : NULL;
	live = drv && drv->config_changed;
	device_unlock(&pdev->dev);
	return live;
}

/*
 * Do the immutable parts of a bound device still match the entry?  The
 * config is one of them unless its driver takes changes in place.
 */
static bool pvkit_same_device(struct pvkit_device *pdev,
			      const struct pvkit_entry_view *v)
{
	if (pdev->type != v->type || pdev->instance != v->instance ||
	    pdev->features != v->features ||
	    pdev->nr_queues != v->nr_queues ||
	    pdev->config_size != v->config_size ||
	    memcmp(pdev->queues, v->queues, sizeof(v->queues)))
		return false;
	return !pvkit_config_differs(pdev, v) || pvkit_config_live(pdev);
}

/*
 * Copy the device table between two equal, even reads of the generation
 * (ABI.md 2.2).  -EAGAIN if the host kept changing it.
 */
static int pvkit_snapshot(struct pvkit_core *core, u32 *generation)
{
	struct pvkit_info *info = core->shm + PVKIT_INFO_OFFSET;
	size_t len = (size_t)core->lay.devtab_entries *
		     sizeof(struct pvkit_dev_entry);
	unsigned int tries;
	u32 g1, g2;

	for (tries = 0; tries < PVKIT_SNAPSHOT_TRIES; tries++) {
		if (tries) {
			atomic64_inc(&core->stats.rescan_retries);
			usleep_range(50, 200);
		}
		g1 = le32_to_cpu(READ_ONCE(info->generation));
		if (g1 & 1)
			continue;
		/* the generation before the entries; pairs with the host */
		smp_rmb();
		memcpy(core->snap, core->shm + core->lay.devtab_offset, len);
		/* the entries before the second generation read */
		smp_rmb();
		g2 = le32_to_cpu(READ_ONCE(info->generation));
		if (g1 == g2) {
			*generation = g1;
			return 0;
		}
	}
	return -EAGAIN;
}

/* ------------------------------------------------- device lifecycle --- */

static void pvkit_dev_release(struct device *dev)
{
	kfree(to_pvkit_priv(to_pvkit_device(dev)));
}

static void pvkit_dev_add(struct pvkit_core *core, unsigned int slot,
			  const struct pvkit_entry_view *v)
{
	const char *type = pvkit_type_name(v->type);
	struct pvkit_dev_priv *pd;
	struct pvkit_device *pdev;
	unsigned int i;
	int err;

	/* A name must be unique: refuse a second "blk.0". */
	for (i = 0; i < core->lay.devtab_entries; i++) {
		pd = core->devs[i];
		if (pd && pd->pub.type == v->type &&
		    pd->pub.instance == v->instance) {
			pvkit_refuse(core, slot, "%s.%u already in slot %u",
				     type, v->instance, i);
			return;
		}
	}

	pd = kzalloc(sizeof(*pd), GFP_KERNEL);
	if (!pd)
		return;
	pdev = &pd->pub;
	pdev->core = core;
	pdev->index = slot;
	pdev->type = v->type;
	pdev->instance = v->instance;
	pdev->state = v->state;
	pdev->epoch = v->epoch;
	pdev->features = v->features;
	pdev->nr_queues = v->nr_queues;
	pdev->config_size = v->config_size;
	memcpy(pdev->config, v->config, sizeof(pdev->config));
	memcpy(pdev->queues, v->queues, sizeof(pdev->queues));

	device_initialize(&pdev->dev);
	pdev->dev.bus = &pvkit_bus_type;
	pdev->dev.parent = &core->pci->dev;
	pdev->dev.release = pvkit_dev_release;
	set_dev_node(&pdev->dev, dev_to_node(&core->pci->dev));
	if (core->id)
		err = dev_set_name(&pdev->dev, "pvkit%d-%s.%u", core->id,
				   type, v->instance);
	else
		err = dev_set_name(&pdev->dev, "%s.%u", type, v->instance);
	if (!err)
		err = device_add(&pdev->dev);
	if (err) {
		dev_err(&core->pci->dev, "device slot %u: add failed: %d\n",
			slot, err);
		put_device(&pdev->dev);
		return;
	}
	core->devs[slot] = pd;
}

/*
 * Unregister the device of @slot.  @freed: the host freed the slot (type
 * NONE or state FREE, e.g. a forced hot-remove); the device's state says
 * so, which tells the driver's remove() that the host is done with it.
 */
static void pvkit_dev_del(struct pvkit_core *core, unsigned int slot,
			  bool freed)
{
	struct pvkit_dev_priv *pd = core->devs[slot];

	core->devs[slot] = NULL;
	if (freed)
		WRITE_ONCE(pd->pub.state, PVKIT_DEV_STATE_FREE);
	device_unregister(&pd->pub.dev);
}

static bool pvkit_entry_freed(const struct pvkit_dev_entry *e)
{
	return le16_to_cpu(e->type) == PVKIT_DEV_NONE ||
	       le32_to_cpu(e->state) == PVKIT_DEV_STATE_FREE;
}

/*
 * The host changed the config in place (the scan let only a driver with
 * config_changed() keep its device through that), or the state or epoch
 * of a bound device: tell its driver.
 */
static void pvkit_dev_update(struct pvkit_dev_priv *pd,
			     const struct pvkit_entry_view *v)
{
	u8 old_config[PVKIT_DEV_CONFIG_SIZE];
	struct pvkit_device *pdev = &pd->pub;
	struct pvkit_driver *drv;
	u32 old = pdev->state;

	if (pvkit_config_differs(pdev, v)) {
		device_lock(&pdev->dev);
		memcpy(old_config, pdev->config, sizeof(old_config));
		memcpy(pdev->config, v->config, sizeof(pdev->config));
		drv = pdev->dev.driver ? to_pvkit_driver(pdev->dev.driver) :
		      NULL;
		if (drv && drv->config_changed)
			drv->config_changed(pdev, old_config);
		device_unlock(&pdev->dev);
	}
	if (old == v->state && pdev->epoch == v->epoch)
		return;
	WRITE_ONCE(pdev->state, v->state);
	WRITE_ONCE(pdev->epoch, v->epoch);

	device_lock(&pdev->dev);
	drv = pdev->dev.driver ? to_pvkit_driver(pdev->dev.driver) : NULL;
	if (drv && drv->state_changed)
		drv->state_changed(pdev, old);
	else if (!drv && v->state == PVKIT_DEV_STATE_CLOSING)
		pvkit_dev_disconnect(pdev);	/* let the host free it */
	device_unlock(&pdev->dev);
	/*
	 * A probe that met the device RESETTING failed and the driver core
	 * will not retry on its own: offer the device to drivers again once
	 * the host has it OFFERED.  Same context as device_add() at scan.
	 */
	if (!drv && v->state == PVKIT_DEV_STATE_OFFERED &&
	    device_attach(&pdev->dev) < 0)
		dev_warn(&pdev->dev, "re-probe after reset failed\n");
	kobject_uevent(&pdev->dev.kobj, KOBJ_CHANGE);
}

/**
 * pvkit_core_scan - bring the bus in line with the host's device table
 * @core: the pvkit device; caller holds core->devs_lock
 *
 * Runs at probe and from the config work.  Devices that vanished, were
 * refused or changed identity are unregistered first, so that a device
 * moving between slots in one update keeps its name.
 */
void pvkit_core_scan(struct pvkit_core *core)
{
	u64 args[PVKIT_HC_NR_ARGS] = { 0 };
	unsigned int slot, n = core->lay.devtab_entries;
	struct pvkit_entry_view *v;
	int *err;
	u32 gen;

	lockdep_assert_held(&core->devs_lock);
	if (core->removing)
		return;
	if (pvkit_snapshot(core, &gen)) {
		dev_warn_ratelimited(&core->pci->dev,
				     "device table kept changing, retrying\n");
		schedule_delayed_work(&core->config_work, PVKIT_RESCAN_DELAY);
		return;
	}
	if (core->scanned && gen == core->generation)
		return;
	atomic64_inc(&core->stats.rescans);

	v = kvcalloc(PVKIT_MAX_DEVICES, sizeof(*v), GFP_KERNEL);
	err = kcalloc(PVKIT_MAX_DEVICES, sizeof(*err), GFP_KERNEL);
	if (!v || !err) {
		kvfree(v);
		kfree(err);
		schedule_delayed_work(&core->config_work, PVKIT_RESCAN_DELAY);
		return;
	}
	for (slot = 0; slot < n; slot++) {
		struct pvkit_dev_priv *pd = core->devs[slot];

		err[slot] = pvkit_entry_parse(core, slot, &core->snap[slot],
					      &v[slot]);
		if (pd && (err[slot] || !pvkit_same_device(&pd->pub, &v[slot])))
			pvkit_dev_del(core, slot,
				      pvkit_entry_freed(&core->snap[slot]));
	}
	for (slot = 0; slot < n; slot++) {
		if (err[slot])
			continue;
		if (core->devs[slot])
			pvkit_dev_update(core->devs[slot], &v[slot]);
		else
			pvkit_dev_add(core, slot, &v[slot]);
	}
	kvfree(v);
	kfree(err);

	WRITE_ONCE(core->generation, gen);
	core->scanned = true;
	args[0] = gen;
	pvkit_hypercall(core, PVKIT_HC_CONFIG_ACK, args);
}

void pvkit_config_work(struct work_struct *work)
{
	struct pvkit_core *core = container_of(to_delayed_work(work),
					       struct pvkit_core, config_work);

	mutex_lock(&core->devs_lock);
	pvkit_core_scan(core);
	mutex_unlock(&core->devs_lock);
}

/* Stop rescans and unregister every device (PCI remove). */
void pvkit_core_remove_devices(struct pvkit_core *core)
{
	unsigned int slot;

	mutex_lock(&core->devs_lock);
	core->removing = true;
	mutex_unlock(&core->devs_lock);
	cancel_delayed_work_sync(&core->config_work);

	mutex_lock(&core->devs_lock);
	for (slot = core->lay.devtab_entries; slot-- > 0;)
		if (core->devs[slot])
			pvkit_dev_del(core, slot, false);
	mutex_unlock(&core->devs_lock);
}

/* ------------------------------------------------------- device API --- */

static long pvkit_dev_hypercall(struct pvkit_device *pdev, u32 nr, u64 a1)
{
	u64 args[PVKIT_HC_NR_ARGS] = { pdev->index, a1 };

	return pvkit_hypercall(pdev->core, nr, args);
}

/**
 * pvkit_dev_ack_features - acknowledge device features (state OFFERED)
 * @pdev: the device
 * @features: bits the driver knows and wants; bits not offered are dropped
 *
 * Return: 0 or a negative errno (-EPERM unless OFFERED).
 */
int pvkit_dev_ack_features(struct pvkit_device *pdev, u64 features)
{
	long ret;

	features &= pdev->features;
	ret = pvkit_dev_hypercall(pdev, PVKIT_HC_DEV_ACK_FEATURES, features);
	if (ret < 0)
		return ret;
	WRITE_ONCE(pdev->acked_features, features);
	return 0;
}
EXPORT_SYMBOL_NS_GPL(pvkit_dev_ack_features, PVKIT);

/**
 * pvkit_dev_connect - go live: the host zeroes the ring headers
 * @pdev: the device, state OFFERED
 *
 * Return: 0; -EBUSY if the back-end is not ready (retry on the next state
 * change); -EPERM if not OFFERED; another negative errno.
 */
int pvkit_dev_connect(struct pvkit_device *pdev)
{
	long ret = pvkit_dev_hypercall(pdev, PVKIT_HC_DEV_CONNECT, 0);

	if (ret < 0)
		return ret;
	WRITE_ONCE(to_pvkit_priv(pdev)->connected, true);
	return 0;
}
EXPORT_SYMBOL_NS_GPL(pvkit_dev_connect, PVKIT);

/**
 * pvkit_dev_disconnect - stop; the host drains the back-end first
 * @pdev: the device, state CONNECTED or CLOSING
 *
 * Return: 0 or a negative errno.
 */
int pvkit_dev_disconnect(struct pvkit_device *pdev)
{
	long ret = pvkit_dev_hypercall(pdev, PVKIT_HC_DEV_DISCONNECT, 0);

	if (ret >= 0 || ret == -ENODEV)
		WRITE_ONCE(to_pvkit_priv(pdev)->connected, false);
	return ret < 0 ? ret : 0;
}
EXPORT_SYMBOL_NS_GPL(pvkit_dev_disconnect, PVKIT);

/**
 * pvkit_dev_reset - report a misbehaving device; like disconnect from any
 * state, retries the back-end from BROKEN
 * @pdev: the device
 *
 * Return: 0 or a negative errno.
 */
int pvkit_dev_reset(struct pvkit_device *pdev)
{
	long ret = pvkit_dev_hypercall(pdev, PVKIT_HC_DEV_RESET, 0);

	if (ret >= 0 || ret == -ENODEV)
		WRITE_ONCE(to_pvkit_priv(pdev)->connected, false);
	return ret < 0 ? ret : 0;
}
EXPORT_SYMBOL_NS_GPL(pvkit_dev_reset, PVKIT);

/**
 * pvkit_queue_ring - kernel address of a queue's ring
 * @pdev: the device
 * @q: queue index
 *
 * Return: the base to pass to pvkit_ring_attach() (already checked to lie
 * in the shared region), or NULL if @q does not exist.
 */
void *pvkit_queue_ring(struct pvkit_device *pdev, unsigned int q)
{
	if (q >= pdev->nr_queues)
		return NULL;
	return pdev->core->shm + pdev->queues[q].ring_offset;
}
EXPORT_SYMBOL_NS_GPL(pvkit_queue_ring, PVKIT);

static irqreturn_t pvkit_queue_irq(int irq, void *data)
{
	struct pvkit_queue_state *qs = data;

	atomic64_inc(&qs->irqs);
	return qs->handler(irq, qs->data);
}

/**
 * pvkit_queue_request_irq - bind a handler to a queue's MSI-X vector
 * @pdev: the device
 * @q: queue index
 * @handler: called in hard irq context with @data
 * @name: name in /proc/interrupts (copied), or NULL for "pvkit-<dev>-q<q>"
 * @data: the handler's cookie, also passed to pvkit_queue_free_irq()
 *
 * Return: the Linux irq number or a negative errno.
 */
int pvkit_queue_request_irq(struct pvkit_device *pdev, unsigned int q,
			    irq_handler_t handler, const char *name,
			    void *data)
{
	struct pvkit_queue_state *qs;
	int irq, err;

	if (q >= pdev->nr_queues || !handler)
		return -EINVAL;
	qs = &to_pvkit_priv(pdev)->qs[q];
	if (qs->irq)
		return -EBUSY;
	irq = pci_irq_vector(pdev->core->pci, pdev->queues[q].vector);
	if (irq < 0)
		return irq;
	if (name)
		strscpy(qs->name, name, sizeof(qs->name));
	else
		snprintf(qs->name, sizeof(qs->name), "pvkit-%s-q%u",
			 dev_name(&pdev->dev), q);
	qs->handler = handler;
	qs->data = data;
	err = request_irq(irq, pvkit_queue_irq, 0, qs->name, qs);
	if (err) {
		qs->handler = NULL;
		qs->data = NULL;
		return err;
	}
	qs->irq = irq;
	return irq;
}
EXPORT_SYMBOL_NS_GPL(pvkit_queue_request_irq, PVKIT);

/**
 * pvkit_queue_free_irq - undo pvkit_queue_request_irq()
 * @pdev: the device
 * @q: queue index
 * @data: the cookie given to pvkit_queue_request_irq()
 */
void pvkit_queue_free_irq(struct pvkit_device *pdev, unsigned int q,
			  void *data)
{
	struct pvkit_queue_state *qs;

	if (q >= pdev->nr_queues)
		return;
	qs = &to_pvkit_priv(pdev)->qs[q];
	if (!qs->irq || qs->data != data) {
		dev_err(&pdev->dev, "queue %u: freeing an irq not bound\n", q);
		return;
	}
	irq_update_affinity_hint(qs->irq, NULL);
	free_irq(qs->irq, qs);
	qs->irq = 0;
	qs->handler = NULL;
	qs->data = NULL;
}
EXPORT_SYMBOL_NS_GPL(pvkit_queue_free_irq, PVKIT);

/**
 * pvkit_queue_set_affinity - steer a bound queue irq to @mask
 * @pdev: the device
 * @q: queue index, irq bound
 * @mask: CPUs; typically the CPU that submits on this queue
 *
 * Return: 0 or a negative errno.
 */
int pvkit_queue_set_affinity(struct pvkit_device *pdev, unsigned int q,
			     const struct cpumask *mask)
{
	struct pvkit_queue_state *qs;

	if (q >= pdev->nr_queues)
		return -EINVAL;
	qs = &to_pvkit_priv(pdev)->qs[q];
	if (!qs->irq)
		return -EINVAL;
	return irq_set_affinity_and_hint(qs->irq, mask);
}
EXPORT_SYMBOL_NS_GPL(pvkit_queue_set_affinity, PVKIT);

/**
 * pvkit_queue_kick - ring a queue's doorbell
 * @pdev: the device
 * @q: queue index
 *
 * Any context.  Call after pvkit_ring_push_reqs() returned true.
 */
void pvkit_queue_kick(struct pvkit_device *pdev, unsigned int q)
{
	struct pvkit_core *core = pdev->core;

	if (q >= pdev->nr_queues)
		return;
	atomic64_inc(&to_pvkit_priv(pdev)->qs[q].kicks);
	/* writel() orders the doorbell after the ring index store */
	writel(PVKIT_DOORBELL(core->lay.hv_peer_id, pdev->queues[q].kick),
	       core->regs + PVKIT_REG_DOORBELL);
}
EXPORT_SYMBOL_NS_GPL(pvkit_queue_kick, PVKIT);

/**
 * pvkit_queue_stat - count a driver-side event for debugfs
 * @pdev: the device
 * @q: queue index
 * @stat: what happened
 */
void pvkit_queue_stat(struct pvkit_device *pdev, unsigned int q,
		      enum pvkit_stat stat)
{
	struct pvkit_queue_state *qs;

	if (q >= pdev->nr_queues)
		return;
	qs = &to_pvkit_priv(pdev)->qs[q];
	switch (stat) {
	case PVKIT_STAT_KICK_SUPPRESSED:
		atomic64_inc(&qs->kicks_suppressed);
		break;
	case PVKIT_STAT_RING_FULL:
		atomic64_inc(&qs->ring_full);
		break;
	case PVKIT_STAT_TIMEOUT:
		atomic64_inc(&qs->timeouts);
		break;
	case PVKIT_STAT_BOUNCED:
		atomic64_inc(&qs->bounced);
		break;
	default:
		break;
	}
}
EXPORT_SYMBOL_NS_GPL(pvkit_queue_stat, PVKIT);

/**
 * pvkit_dma_dev - the device to map buffers on with the DMA API
 * @pdev: the device
 *
 * Return: the pvkit PCI device: a DMA address on it is guest-physical.
 */
struct device *pvkit_dma_dev(struct pvkit_device *pdev)
{
	return &pdev->core->pci->dev;
}
EXPORT_SYMBOL_NS_GPL(pvkit_dma_dev, PVKIT);
