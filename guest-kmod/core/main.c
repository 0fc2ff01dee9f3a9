// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit bus core: the PCI driver for the pvkit device (an ivshmem-doorbell
 * function whose shared region starts with the pvkit info page).
 *
 * Probe maps BAR0 (doorbell) and BAR2 (shared region), claims the device
 * only if the region carries PVKIT_MAGIC, validates a private copy of the
 * info page (ABI.md 2.2), sets up MSI-X and the hypercall mailboxes,
 * negotiates global features and creates one pvkit bus device per device
 * table slot.
 *
 * Copyright (c) 2026 The pvkit authors
 */
#include <linux/dma-mapping.h>
#include <linux/idr.h>
#include <linux/ioport.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/kernel.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "core.h"

static DEFINE_IDA(pvkit_core_ida);

/* ------------------------------------------------- info page checks --- */

struct pvkit_area {
	const char *name;
	u64 off;
	u64 len;
};

/*
 * Validate @info (a private copy) against ABI.md 2.2 and fill @l.  Every
 * failure names the offending field.
 */
static int pvkit_info_parse(struct pci_dev *pci, const struct pvkit_info *info,
			    u64 bar_len, struct pvkit_layout *l)
{
	struct device *dev = &pci->dev;
	struct pvkit_area areas[3];
	unsigned int i, j, nr_areas;
	u32 mbox_size, entry_size;

	memset(l, 0, sizeof(*l));
	l->abi_major = le16_to_cpu(info->abi_major);
	l->abi_minor = le16_to_cpu(info->abi_minor);
	if (l->abi_major != PVKIT_ABI_MAJOR) {
		dev_err(dev, "host speaks pvkit ABI %u.%u, this driver %u.%u: incompatible, device refused\n",
			l->abi_major, l->abi_minor, PVKIT_ABI_MAJOR,
			PVKIT_ABI_MINOR);
		return -ENODEV;
	}
	l->info_size = le32_to_cpu(info->info_size);
	for (i = 0; i < PVKIT_FEATURE_WORDS; i++)
		l->features[i] = le64_to_cpu(info->features[i]);
	l->shm_size = le64_to_cpu(info->shm_size);
	l->nr_vcpus = le32_to_cpu(info->nr_vcpus);
	l->nr_mailboxes = le32_to_cpu(info->nr_mailboxes);
	l->mailbox_offset = le32_to_cpu(info->mailbox_offset);
	mbox_size = le32_to_cpu(info->mailbox_size);
	l->devtab_offset = le32_to_cpu(info->devtab_offset);
	l->devtab_entries = le32_to_cpu(info->devtab_entries);
	entry_size = le32_to_cpu(info->devtab_entry_size);
	l->hv_peer_id = le32_to_cpu(info->hv_peer_id);
	l->nr_vectors = le32_to_cpu(info->nr_vectors);
	l->nr_kicks = le32_to_cpu(info->nr_kicks);
	l->nr_mem_ranges = le32_to_cpu(info->nr_mem_ranges);
	l->vec_config = le32_to_cpu(info->vec_config);
	l->vec_hypercall = le32_to_cpu(info->vec_hypercall);
	l->kick_hypercall = le32_to_cpu(info->kick_hypercall);
	l->ram_size = le64_to_cpu(info->ram_size);

	if (l->info_size < sizeof(*info)) {
		dev_err(dev, "info page: info_size %u < %zu\n", l->info_size,
			sizeof(*info));
		return -EINVAL;
	}
	if (l->shm_size != bar_len || l->shm_size < PVKIT_SHM_MIN_SIZE ||
	    !is_power_of_2(l->shm_size)) {
		dev_err(dev, "info page: shm_size 0x%llx, BAR2 is 0x%llx\n",
			l->shm_size, bar_len);
		return -EINVAL;
	}
	if (mbox_size != sizeof(struct pvkit_mailbox) ||
	    entry_size != sizeof(struct pvkit_dev_entry)) {
		dev_err(dev, "info page: mailbox_size %u, devtab_entry_size %u\n",
			mbox_size, entry_size);
		return -EINVAL;
	}
	if (!l->nr_mailboxes || l->nr_mailboxes > PVKIT_MAX_MAILBOXES ||
	    l->devtab_entries > PVKIT_MAX_DEVICES) {
		dev_err(dev, "info page: %u mailboxes, %u device slots\n",
			l->nr_mailboxes, l->devtab_entries);
		return -EINVAL;
	}
	if (!l->nr_vectors || l->nr_vectors > PVKIT_MAX_VECTORS ||
	    !l->nr_kicks || l->nr_kicks > PVKIT_MAX_KICKS ||
	    l->vec_config >= l->nr_vectors ||
	    l->vec_hypercall >= l->nr_vectors ||
	    l->kick_hypercall >= l->nr_kicks) {
		dev_err(dev, "info page: %u vectors (config %u, hypercall %u), %u kicks (hypercall %u)\n",
			l->nr_vectors, l->vec_config, l->vec_hypercall,
			l->nr_kicks, l->kick_hypercall);
		return -EINVAL;
	}
	if (l->nr_mem_ranges > PVKIT_MAX_MEM_RANGES) {
		dev_err(dev, "info page: %u memory ranges\n",
			l->nr_mem_ranges);
		return -EINVAL;
	}
	for (i = 0; i < l->nr_mem_ranges; i++) {
		l->mem[i].gpa = le64_to_cpu(info->mem[i].gpa);
		l->mem[i].size = le64_to_cpu(info->mem[i].size);
		l->mem[i].file_offset = le64_to_cpu(info->mem[i].file_offset);
	}

	/* Every area inside the region, page aligned, none overlapping. */
	areas[0] = (struct pvkit_area){ "info page", PVKIT_INFO_OFFSET,
					PVKIT_PAGE_SIZE };
	areas[1] = (struct pvkit_area){ "mailboxes", l->mailbox_offset,
					(u64)l->nr_mailboxes * mbox_size };
	areas[2] = (struct pvkit_area){ "device table", l->devtab_offset,
					(u64)l->devtab_entries * entry_size };
	nr_areas = 3;
	for (i = 0; i < nr_areas; i++) {
		const struct pvkit_area *a = &areas[i];

		if (a->off % PVKIT_PAGE_SIZE) {
			dev_err(dev, "info page: %s at 0x%llx not page aligned\n",
				a->name, a->off);
			return -EINVAL;
		}
		if (a->off > l->shm_size || a->len > l->shm_size - a->off) {
			dev_err(dev, "info page: %s at 0x%llx (0x%llx bytes) outside the shared region\n",
				a->name, a->off, a->len);
			return -EINVAL;
		}
		for (j = 0; j < i; j++) {
			const struct pvkit_area *b = &areas[j];

			if (a->len && b->len && a->off < b->off + b->len &&
			    b->off < a->off + a->len) {
				dev_err(dev, "info page: %s overlaps %s\n",
					a->name, b->name);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/*
 * Every page of guest RAM must lie in a range of the published memory
 * map: the host reaches a buffer only through that map, so a page outside
 * it could be handed to a back-end and never be served.  Each System RAM
 * range the kernel knows is checked against it.
 */
struct pvkit_ram_check {
	const struct pvkit_layout *lay;
	u64 bad_start, bad_len;		/* first range not covered */
};

static int pvkit_ram_range_covered(struct resource *res, void *arg)
{
	struct pvkit_ram_check *c = arg;
	const struct pvkit_layout *l = c->lay;
	u64 start = res->start, len = resource_size(res);
	unsigned int i;

	for (i = 0; i < l->nr_mem_ranges; i++) {
		if (start >= l->mem[i].gpa &&
		    start - l->mem[i].gpa < l->mem[i].size &&
		    len <= l->mem[i].size - (start - l->mem[i].gpa))
			return 0;
	}
	c->bad_start = start;
	c->bad_len = len;
	return -ERANGE;
}

static int pvkit_check_ram(struct pci_dev *pci, const struct pvkit_layout *l)
{
	struct pvkit_ram_check c = { .lay = l };

	/* walk_system_ram_range() is not exported; this is its walk */
	if (walk_iomem_res_desc(IORES_DESC_NONE,
				IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY, 0,
				U64_MAX, &c, pvkit_ram_range_covered) != -ERANGE)
		return 0;
	dev_err(&pci->dev, "guest RAM [%#llx-%#llx] is outside the host's memory map (%u ranges): buffers there could not be shared, device refused\n",
		c.bad_start, c.bad_start + c.bad_len - 1, l->nr_mem_ranges);
	return -EINVAL;
}

/* ---------------------------------------------------------- PCI glue --- */

static irqreturn_t pvkit_config_irq(int irq, void *data)
{
	struct pvkit_core *core = data;

	atomic64_inc(&core->stats.config_irqs);
	mod_delayed_work(system_wq, &core->config_work, 0);
	return IRQ_HANDLED;
}

/* Global features: what the host offers (asked, not read), masked, acked. */
static int pvkit_negotiate(struct pvkit_core *core)
{
	struct device *dev = &core->pci->dev;
	u64 args[PVKIT_HC_NR_ARGS] = { 0 };
	long ret;

	ret = pvkit_hypercall(core, PVKIT_HC_GET_VERSION, args);
	if (ret < 0) {
		dev_err(dev, "GET_VERSION failed: %ld\n", ret);
		return ret;
	}
	core->host_version = ret;
	if ((ret >> 16) != PVKIT_ABI_MAJOR) {
		dev_err(dev, "host answers ABI %ld.%ld, this driver %u.%u: incompatible, device refused\n",
			ret >> 16, ret & 0xffff, PVKIT_ABI_MAJOR,
			PVKIT_ABI_MINOR);
		return -ENODEV;
	}

	ret = pvkit_hypercall(core, PVKIT_HC_GET_FEATURES, args);
	if (ret < 0) {
		dev_err(dev, "GET_FEATURES failed: %ld\n", ret);
		return ret;
	}
	if ((u64)ret != core->lay.features[0])
		dev_warn(dev, "info page offers 0x%llx, GET_FEATURES 0x%lx\n",
			 core->lay.features[0], ret);

	args[1] = (u64)ret & core->lay.features[0] & PVKIT_F_KNOWN_0;
	ret = pvkit_hypercall(core, PVKIT_HC_ACK_FEATURES, args);
	if (ret < 0) {
		dev_err(dev, "ACK_FEATURES 0x%llx failed: %ld\n", args[1], ret);
		return ret;
	}
	core->acked_features = args[1];
	return 0;
}

static int pvkit_probe(struct pci_dev *pci, const struct pci_device_id *id)
{
	struct device *dev = &pci->dev;
	struct pvkit_core *core;
	struct pvkit_info info;
	u64 shm_start, shm_len;
	unsigned int nvec;
	int err, table;
	void *shm;

	err = pci_enable_device(pci);
	if (err)
		return err;
	err = pci_request_regions(pci, PVKIT_DRV_NAME);
	if (err)
		goto err_disable_device;

	shm_start = pci_resource_start(pci, PVKIT_BAR_SHM);
	shm_len = pci_resource_len(pci, PVKIT_BAR_SHM);
	if (!(pci_resource_flags(pci, PVKIT_BAR_SHM) & IORESOURCE_MEM) ||
	    !(pci_resource_flags(pci, PVKIT_BAR_REGS) & IORESOURCE_MEM) ||
	    shm_len < PVKIT_SHM_MIN_SIZE ||
	    pci_resource_len(pci, PVKIT_BAR_REGS) < PVKIT_REG_DOORBELL + 4) {
		dev_info(dev, "no pvkit shared region, not a pvkit device\n");
		err = -ENODEV;
		goto err_release_regions;
	}
	shm = memremap(shm_start, shm_len, MEMREMAP_WB);
	if (!shm) {
		err = -ENOMEM;
		goto err_release_regions;
	}
	if (le32_to_cpu(READ_ONCE(*(__le32 *)shm)) != PVKIT_MAGIC) {
		dev_info(dev, "ivshmem device without pvkit magic, ignored\n");
		err = -ENODEV;
		goto err_unmap_shm;
	}

	core = kzalloc(sizeof(*core), GFP_KERNEL);
	if (!core) {
		err = -ENOMEM;
		goto err_unmap_shm;
	}
	/* copy, then validate */
	memcpy(&info, shm + PVKIT_INFO_OFFSET, sizeof(info));
	err = pvkit_info_parse(pci, &info, shm_len, &core->lay);
	if (err)
		goto err_free_core;
	err = pvkit_check_ram(pci, &core->lay);
	if (err)
		goto err_free_core;
	/*
	 * The host reads and writes guest RAM by guest-physical address
	 * through the memory map, wherever it lies: no IOMMU, no 4 GiB
	 * limit (ABI.md 8).  PCI's default 32-bit mask would bounce every
	 * buffer above 4 GiB through swiotlb, which cannot map a segment
	 * larger than 256 KiB: requests then never get mapped at all.
	 */
	err = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64));
	if (err) {
		dev_err(dev, "cannot use 64-bit DMA addresses: %d\n", err);
		goto err_free_core;
	}
	core->pci = pci;
	core->shm = shm;
	mutex_init(&core->devs_lock);
	INIT_DELAYED_WORK(&core->config_work, pvkit_config_work);
	INIT_LIST_HEAD(&core->node);
	core->id = ida_alloc(&pvkit_core_ida, GFP_KERNEL);
	if (core->id < 0) {
		err = core->id;
		goto err_free_core;
	}

	core->regs = pci_iomap(pci, PVKIT_BAR_REGS, 0);
	if (!core->regs) {
		err = -ENOMEM;
		goto err_free_id;
	}
	core->iv_position = ioread32(core->regs + PVKIT_REG_IV_POSITION);

	core->snap = kcalloc(PVKIT_MAX_DEVICES, sizeof(*core->snap),
			     GFP_KERNEL);
	if (!core->snap) {
		err = -ENOMEM;
		goto err_unmap_regs;
	}
	err = pvkit_mbox_init(core);
	if (err)
		goto err_free_snap;

	/* As many vectors as the host drives, as far as the table allows. */
	table = pci_msix_vec_count(pci);
	if (table < 0) {
		dev_err(dev, "no MSI-X: %d\n", table);
		err = table;
		goto err_mbox_exit;
	}
	nvec = min_t(unsigned int, core->lay.nr_vectors, table);
	if (core->lay.vec_config >= nvec || core->lay.vec_hypercall >= nvec) {
		dev_err(dev, "MSI-X table has %d vectors, host uses %u and %u\n",
			table, core->lay.vec_config, core->lay.vec_hypercall);
		err = -EINVAL;
		goto err_mbox_exit;
	}
	err = pci_alloc_irq_vectors(pci, nvec, nvec, PCI_IRQ_MSIX);
	if (err < 0) {
		dev_err(dev, "cannot allocate %u MSI-X vectors: %d\n", nvec,
			err);
		goto err_mbox_exit;
	}
	core->nr_irqs = nvec;
	pci_set_master(pci);

	err = request_irq(pci_irq_vector(pci, core->lay.vec_hypercall),
			  pvkit_hypercall_irq,
			  core->lay.vec_hypercall == core->lay.vec_config ?
			  IRQF_SHARED : 0, "pvkit-hypercall", core);
	if (err)
		goto err_free_vectors;

	err = pvkit_negotiate(core);
	if (err)
		goto err_free_hypercall_irq;

	pci_set_drvdata(pci, core);
	pvkit_debugfs_add_core(core);

	err = request_irq(pci_irq_vector(pci, core->lay.vec_config),
			  pvkit_config_irq,
			  core->lay.vec_hypercall == core->lay.vec_config ?
			  IRQF_SHARED : 0, "pvkit-config", core);
	if (err)
		goto err_remove_debugfs;

	mutex_lock(&core->devs_lock);
	pvkit_core_scan(core);
	mutex_unlock(&core->devs_lock);

	pvkit_dev_add_core(core);

	dev_info(dev, "pvkit ABI %u.%u, %u mailboxes, %u vectors, %u device slots, features 0x%llx\n",
		 core->lay.abi_major, core->lay.abi_minor,
		 core->lay.nr_mailboxes, core->nr_irqs,
		 core->lay.devtab_entries, core->acked_features);
	return 0;

err_remove_debugfs:
	pvkit_debugfs_remove_core(core);
err_free_hypercall_irq:
	free_irq(pci_irq_vector(pci, core->lay.vec_hypercall), core);
err_free_vectors:
	pci_clear_master(pci);
	pci_free_irq_vectors(pci);
err_mbox_exit:
	pvkit_mbox_exit(core);
err_free_snap:
	kfree(core->snap);
err_unmap_regs:
	pci_iounmap(pci, core->regs);
err_free_id:
	ida_free(&pvkit_core_ida, core->id);
err_free_core:
	kfree(core);
err_unmap_shm:
	memunmap(shm);
err_release_regions:
	pci_release_regions(pci);
err_disable_device:
	pci_disable_device(pci);
	return err;
}

static void pvkit_remove(struct pci_dev *pci)
{
	struct pvkit_core *core = pci_get_drvdata(pci);
	void *shm = core->shm;

	pvkit_dev_remove_core(core);

	/* stops rescans, then unregisters every device */
	pvkit_core_remove_devices(core);
	free_irq(pci_irq_vector(pci, core->lay.vec_config), core);
	/* a rescan the last config interrupt queued (it does nothing) */
	cancel_delayed_work_sync(&core->config_work);

	pvkit_debugfs_remove_core(core);
	free_irq(pci_irq_vector(pci, core->lay.vec_hypercall), core);
	pci_clear_master(pci);
	pci_free_irq_vectors(pci);
	pvkit_mbox_exit(core);
	kfree(core->snap);
	pci_iounmap(pci, core->regs);
	ida_free(&pvkit_core_ida, core->id);
	mutex_destroy(&core->devs_lock);
	kfree(core);
	memunmap(shm);
	pci_release_regions(pci);
	pci_disable_device(pci);
}

static const struct pci_device_id pvkit_pci_ids[] = {
	{ PCI_DEVICE(PVKIT_PCI_VENDOR_ID, PVKIT_PCI_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, pvkit_pci_ids);

static struct pci_driver pvkit_pci_driver = {
	.name		= PVKIT_DRV_NAME,
	.id_table	= pvkit_pci_ids,
	.probe		= pvkit_probe,
	.remove		= pvkit_remove,
};

static int __init pvkit_init(void)
{
	int err;

	err = pvkit_bus_init();
	if (err)
		return err;
	pvkit_debugfs_init();
	err = pvkit_test_init();
	if (err)
		goto err_debugfs_exit;
	err = pvkit_dev_init();
	if (err)
		goto err_test_exit;
	err = pci_register_driver(&pvkit_pci_driver);
	if (err)
		goto err_dev_exit;
	return 0;

err_dev_exit:
	pvkit_dev_exit();
err_test_exit:
	pvkit_test_exit();
err_debugfs_exit:
	pvkit_debugfs_exit();
	pvkit_bus_exit();
	return err;
}

static void __exit pvkit_exit(void)
{
	pci_unregister_driver(&pvkit_pci_driver);
	pvkit_dev_exit();
	pvkit_test_exit();
	pvkit_debugfs_exit();
	pvkit_bus_exit();
}

module_init(pvkit_init);
module_exit(pvkit_exit);

MODULE_DESCRIPTION("pvkit paravirtualization bus core");
MODULE_AUTHOR("The pvkit authors");
MODULE_LICENSE("GPL");
