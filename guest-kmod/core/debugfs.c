// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit debugfs: /sys/kernel/debug/pvkit/{info,counters,devices} for the
 * first pvkit device ({info,counters,devices}-N for a further device N).
 * Regular files only, so that cat of every file in the directory works.
 *
 * Copyright (c) 2026 The pvkit authors
 */
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/seq_file.h>

#include "core.h"

static struct dentry *pvkit_debugfs_root;

static void pvkit_seq_counter(struct seq_file *s, const char *name,
			      atomic64_t *v)
{
	seq_printf(s, "%-24s %lld\n", name, atomic64_read(v));
}

static int pvkit_info_show(struct seq_file *s, void *unused)
{
	struct pvkit_core *core = s->private;
	const struct pvkit_info *shared = core->shm + PVKIT_INFO_OFFSET;
	const struct pvkit_layout *l = &core->lay;
	unsigned int i;

	/* one "key value" pair per line */
	seq_printf(s, "abi              %u.%u\n", l->abi_major, l->abi_minor);
	seq_printf(s, "host_version     %u.%u\n", core->host_version >> 16,
		   core->host_version & 0xffff);
	seq_printf(s, "guest_version    %u.%u\n", PVKIT_ABI_MAJOR,
		   PVKIT_ABI_MINOR);
	seq_printf(s, "pci              %s\n", pci_name(core->pci));
	seq_printf(s, "features         0x%016llx\n", l->features[0]);
	seq_printf(s, "features1        0x%016llx\n", l->features[1]);
	seq_printf(s, "acked_features   0x%016llx\n", core->acked_features);
	seq_printf(s, "vcpus            %u\n", l->nr_vcpus);
	seq_printf(s, "mailboxes        %u\n", l->nr_mailboxes);
	seq_printf(s, "mailbox_offset   0x%x\n", l->mailbox_offset);
	seq_printf(s, "devtab_entries   %u\n", l->devtab_entries);
	seq_printf(s, "devtab_offset    0x%x\n", l->devtab_offset);
	seq_printf(s, "shm_size         0x%llx\n", l->shm_size);
	seq_printf(s, "hv_peer_id       %u\n", l->hv_peer_id);
	seq_printf(s, "guest_peer_id    %u\n", core->iv_position);
	seq_printf(s, "nr_vectors       %u\n", l->nr_vectors);
	seq_printf(s, "vectors          %u\n", core->nr_irqs);
	seq_printf(s, "vec_config       %u\n", l->vec_config);
	seq_printf(s, "vec_hypercall    %u\n", l->vec_hypercall);
	seq_printf(s, "kicks            %u\n", l->nr_kicks);
	seq_printf(s, "kick_hypercall   %u\n", l->kick_hypercall);
	seq_printf(s, "generation       %u\n",
		   le32_to_cpu(READ_ONCE(shared->generation)));
	seq_printf(s, "generation_seen  %u\n", READ_ONCE(core->generation));
	seq_printf(s, "ram_size         0x%llx\n", l->ram_size);
	for (i = 0; i < l->nr_mem_ranges; i++)
		seq_printf(s, "mem%u             gpa 0x%llx size 0x%llx file_offset 0x%llx\n",
			   i, l->mem[i].gpa, l->mem[i].size,
			   l->mem[i].file_offset);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(pvkit_info);

static int pvkit_counters_show(struct seq_file *s, void *unused)
{
	struct pvkit_core *core = s->private;
	struct pvkit_core_stats *st = &core->stats;
	unsigned int slot, q;
	char name[64];

	pvkit_seq_counter(s, "hypercalls", &st->hypercalls);
	pvkit_seq_counter(s, "hypercall_sleeps", &st->hypercall_sleeps);
	pvkit_seq_counter(s, "hypercall_timeouts", &st->hypercall_timeouts);
	pvkit_seq_counter(s, "hypercall_bad_results",
			  &st->hypercall_bad_results);
	pvkit_seq_counter(s, "hypercall_irqs", &st->hypercall_irqs);
	pvkit_seq_counter(s, "config_irqs", &st->config_irqs);
	pvkit_seq_counter(s, "rescans", &st->rescans);
	pvkit_seq_counter(s, "rescan_retries", &st->rescan_retries);
	pvkit_seq_counter(s, "bad_entries", &st->bad_entries);

	mutex_lock(&core->devs_lock);
	for (slot = 0; slot < core->lay.devtab_entries; slot++) {
		struct pvkit_dev_priv *pd = core->devs[slot];

		if (!pd)
			continue;
		for (q = 0; q < pd->pub.nr_queues; q++) {
			struct pvkit_queue_state *qs = &pd->qs[q];
			const char *dev = dev_name(&pd->pub.dev);

			snprintf(name, sizeof(name), "%s/q%u/kicks", dev, q);
			pvkit_seq_counter(s, name, &qs->kicks);
			snprintf(name, sizeof(name), "%s/q%u/kicks_suppressed",
				 dev, q);
			pvkit_seq_counter(s, name, &qs->kicks_suppressed);
			snprintf(name, sizeof(name), "%s/q%u/irqs", dev, q);
			pvkit_seq_counter(s, name, &qs->irqs);
			snprintf(name, sizeof(name), "%s/q%u/ring_full", dev, q);
			pvkit_seq_counter(s, name, &qs->ring_full);
			snprintf(name, sizeof(name), "%s/q%u/timeouts", dev, q);
			pvkit_seq_counter(s, name, &qs->timeouts);
			snprintf(name, sizeof(name), "%s/q%u/bounced", dev, q);
			pvkit_seq_counter(s, name, &qs->bounced);
		}
	}
	mutex_unlock(&core->devs_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(pvkit_counters);

static int pvkit_devices_show(struct seq_file *s, void *unused)
{
	struct pvkit_core *core = s->private;
	unsigned int slot, q;

	seq_puts(s, "slot name            state      epoch features           acked              queues driver\n");
	mutex_lock(&core->devs_lock);
	for (slot = 0; slot < core->lay.devtab_entries; slot++) {
		struct pvkit_dev_priv *pd = core->devs[slot];
		struct pvkit_device *pdev;
		struct device_driver *drv;

		if (!pd)
			continue;
		pdev = &pd->pub;
		device_lock(&pdev->dev);
		drv = pdev->dev.driver;
		seq_printf(s, "%-4u %-15s %-10s %5u 0x%016llx 0x%016llx %6u %s\n",
			   slot, dev_name(&pdev->dev),
			   pvkit_state_name(READ_ONCE(pdev->state)),
			   READ_ONCE(pdev->epoch), pdev->features,
			   READ_ONCE(pdev->acked_features), pdev->nr_queues,
			   drv ? drv->name : "-");
		device_unlock(&pdev->dev);
		for (q = 0; q < pdev->nr_queues; q++) {
			const struct pvkit_queue_info *qi = &pdev->queues[q];

			seq_printf(s, "     q%-2u ring 0x%x slots %u req %u rsp %u kick %u vector %u irq %d\n",
				   q, qi->ring_offset, qi->slots, qi->req_size,
				   qi->rsp_size, qi->kick, qi->vector,
				   pd->qs[q].irq);
		}
	}
	mutex_unlock(&core->devs_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(pvkit_devices);

void pvkit_debugfs_init(void)
{
	pvkit_debugfs_root = debugfs_create_dir("pvkit", NULL);
}

void pvkit_debugfs_exit(void)
{
	debugfs_remove_recursive(pvkit_debugfs_root);
	pvkit_debugfs_root = NULL;
}

void pvkit_debugfs_add_core(struct pvkit_core *core)
{
	static const char * const names[] = { "info", "counters", "devices" };
	static const struct file_operations * const fops[] = {
		&pvkit_info_fops, &pvkit_counters_fops, &pvkit_devices_fops,
	};
	char name[32];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(core->dbg); i++) {
		if (core->id)
			snprintf(name, sizeof(name), "%s-%d", names[i],
				 core->id);
		else
			strscpy(name, names[i], sizeof(name));
		core->dbg[i] = debugfs_create_file(name, 0400,
						   pvkit_debugfs_root, core,
						   fops[i]);
	}
}

void pvkit_debugfs_remove_core(struct pvkit_core *core)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(core->dbg); i++) {
		debugfs_remove(core->dbg[i]);
		core->dbg[i] = NULL;
	}
}
