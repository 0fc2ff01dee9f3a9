// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit-hv core: guest RAM, the shared region and its fixed areas (ABI.md
 * 2.1), the info page, event channels and vector allocation (ABI.md 5).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <linux/memfd.h>
#include <unistd.h>

#include <pvkit-host/log.h>

#include "include/hv.h"
#include "include/kind.h"

#define HV_PAGE_ALIGN(x) (((x) + PVKIT_PAGE_SIZE - 1) & \
			  ~(uint64_t)(PVKIT_PAGE_SIZE - 1))

void hv_struct_init(struct hv *hv)
{
	unsigned int i;

	memset(hv, 0, sizeof(*hv));
	hv->ram_fd = -1;
	janitor_init(&hv->janitor);
	hv->shm_fd = -1;
	hv->epfd = -1;
	hv->sig_fd = -1;
	hv->exit_code = -1;
	for (i = 0; i < PVKIT_MAX_KICKS; i++)
		hv->kick_fd[i] = -1;
	for (i = 0; i < PVKIT_MAX_VECTORS; i++)
		hv->irq_fd[i] = -1;
	for (i = 0; i < PVKIT_MAX_DEVICES; i++) {
		hv->devs[i].slot = i;
		hv->devs[i].pending_mbox = -1;
	}
}

uint64_t hv_shm_size_for(const struct hv_plan *plan)
{
	uint64_t need = HV_RINGS_OFFSET + plan->ring_bytes + plan->spare_bytes;
	uint64_t size = HV_SHM_MIN_SIZE;

	while (size < need)
		size <<= 1;
	return size;
}

uint64_t hv_uptime_ms(const struct hv *hv)
{
	return ev_now_ms() - hv->start_ms;
}

int64_t hv_ring_alloc(struct hv *hv, uint64_t bytes)
{
	uint64_t off = hv->ring_next;
	unsigned int i;

	bytes = HV_PAGE_ALIGN(bytes);
	if (!bytes)
		return -EINVAL;
	/* first fit among freed extents: hot-add cycles do not leak */
	for (i = 0; i < hv->nr_ring_free; i++) {
		if (hv->ring_free[i].bytes < bytes)
			continue;
		off = hv->ring_free[i].off;
		hv->ring_free[i].off += bytes;
		hv->ring_free[i].bytes -= bytes;
		if (!hv->ring_free[i].bytes)
			hv->ring_free[i] = hv->ring_free[--hv->nr_ring_free];
		return (int64_t)off;
	}
	if (off < HV_RINGS_OFFSET || off > hv->ring_limit ||
	    bytes > hv->ring_limit - off)
		return -ENOSPC;
	hv->ring_next = off + bytes;
	return (int64_t)off;
}

void hv_ring_free(struct hv *hv, uint64_t off, uint64_t bytes)
{
	unsigned int i;

	bytes = HV_PAGE_ALIGN(bytes);
	if (!bytes)
		return;
	/* the last allocation goes back to the never-used space */
	if (off + bytes == hv->ring_next) {
		hv->ring_next = off;
		return;
	}
	for (i = 0; i < hv->nr_ring_free; i++) {
		if (hv->ring_free[i].off + hv->ring_free[i].bytes == off) {
			hv->ring_free[i].bytes += bytes;
			return;
		}
		if (off + bytes == hv->ring_free[i].off) {
			hv->ring_free[i].off = off;
			hv->ring_free[i].bytes += bytes;
			return;
		}
	}
	/* the list holds at most one extent per queue that can exist */
	if (hv->nr_ring_free < HV_RING_FREE_MAX) {
		hv->ring_free[hv->nr_ring_free].off = off;
		hv->ring_free[hv->nr_ring_free].bytes = bytes;
		hv->nr_ring_free++;
	}
}

int hv_chan_alloc(struct hv *hv)
{
	unsigned int c;

	for (c = 0; c < hv->nr_chans; c++) {
		if (!hv->chan_used[c]) {
			hv->chan_used[c] = true;
			return (int)c;
		}
	}
	return -ENOSPC;
}

void hv_chan_free(struct hv *hv, unsigned int chan)
{
	if (chan < hv->nr_chans)
		hv->chan_used[chan] = false;
}

void hv_child_init(pid_t ppid)
{
	sigset_t none;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* the parent may have died before the prctl took effect */
	if (getppid() != ppid)
		_exit(127);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
}

void hv_raise(struct hv *hv, unsigned int vec)
{
	uint64_t one = 1;

	if (vec >= hv->nr_vectors || hv->irq_fd[vec] < 0)
		return;
	hv->irqs_raised[vec]++;
	/* EAGAIN means the counter is saturated: the irq is pending anyway */
	if (write(hv->irq_fd[vec], &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("raise vector %u: %s", vec, strerror(errno));
}

void hv_ram_name(const struct hv_opts *o, char *buf, size_t len)
{
	snprintf(buf, len, "%s/pvkit-%s-ram",
		 o->hugepages ? o->hugepages : o->shm_dir, o->name);
}

/*
 * memfd_create() flags for guest RAM: huge pages of the size of the
 * hugetlbfs mount @dir (its block size), or ordinary shmem.
 */
static int hv_ram_flags(const char *dir, unsigned int *flags)
{
	struct statfs sf;
	unsigned int shift;

	*flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	if (!dir)
		return 0;
	if (statfs(dir, &sf) < 0) {
		log_err("--hugepages %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (sf.f_type != HUGETLBFS_MAGIC) {
		log_err("--hugepages %s: not a hugetlbfs mount", dir);
		return -EINVAL;
	}
	for (shift = 0; shift < 63 && (1ULL << shift) < (uint64_t)sf.f_bsize;
	     shift++)
		;
	*flags |= MFD_HUGETLB | (shift << MFD_HUGE_SHIFT);
	return 0;
}

/*
 * Guest RAM is a sealed memfd: nobody can see it by name, and nobody --
 * QEMU included, which gets it read-write -- can shrink or grow it, so
 * no mapper of it (pvkit-hv, a back-end) can be made to SIGBUS.  Punching
 * holes (a balloon returning memory) stays possible.  QEMU gets the
 * descriptor (see qemu_start()), the back-ends get it over their
 * sockets, so the memory lives exactly as long as the last of them.
 */
static int hv_ram_create(struct hv *hv)
{
	const struct hv_opts *o = &hv->opt;
	unsigned int flags;
	char proc[64];
	ssize_t n;
	int fd, ret;

	ret = hv_ram_flags(o->hugepages, &flags);
	if (ret)
		return ret;
	fd = memfd_create("pvkit-ram", flags);
	if (fd < 0) {
		ret = -errno;
		log_err("cannot create guest RAM: %s", strerror(errno));
		return ret;
	}
	hv->ram_fd = fd;
	/* what the kernel calls it, e.g. "/memfd:pvkit-ram (deleted)" */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, hv->ram_path, sizeof(hv->ram_path) - 1);
	hv->ram_path[n > 0 ? n : 0] = '\0';
	if (ftruncate(fd, (off_t)hv->ram_size) < 0) {
		ret = -errno;
		log_err("cannot size guest RAM to %llu bytes: %s%s",
			(unsigned long long)hv->ram_size, strerror(errno),
			o->hugepages ? " (--mem must be a multiple of the huge page size)" : "");
		return ret;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		ret = -errno;
		log_err("cannot seal guest RAM: %s", strerror(errno));
		return ret;
	}
	return 0;
}

static int hv_shm_create(struct hv *hv)
{
	void *p;
	int fd;

	fd = memfd_create("pvkit-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	hv->shm_fd = fd;
	if (ftruncate(fd, (off_t)hv->shm_size) < 0)
		return -errno;
	/* nobody (QEMU, a back-end) may resize it under our mapping */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL))
		return -errno;
	p = mmap(NULL, hv->shm_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	hv->shm = p;
	hv->info = p;
	return 0;
}

static int hv_eventfds_create(struct hv *hv)
{
	unsigned int i;

	for (i = 0; i < hv->nr_kicks; i++) {
		hv->kick_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (hv->kick_fd[i] < 0)
			return -errno;
	}
	for (i = 0; i < hv->nr_vectors; i++) {
		hv->irq_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (hv->irq_fd[i] < 0)
			return -errno;
	}
	return 0;
}

static void hv_info_fill(struct hv *hv)
{
	struct pvkit_info *in = hv->info;
	unsigned int i;

	memset(in, 0, sizeof(*in));
	in->abi_major = htole16(PVKIT_ABI_MAJOR);
	in->abi_minor = htole16(PVKIT_ABI_MINOR);
	in->info_size = htole32(sizeof(*in));
	in->generation = htole32(hv->generation);
	for (i = 0; i < PVKIT_FEATURE_WORDS; i++)
		in->features[i] = htole64(hv->features[i]);
	in->shm_size = htole64(hv->shm_size);
	in->nr_vcpus = htole32(hv->opt.cpus);
	in->nr_mailboxes = htole32(hv->nr_mbox);
	in->mailbox_offset = htole32(HV_MBOX_OFFSET);
	in->mailbox_size = htole32(sizeof(struct pvkit_mailbox));
	in->devtab_offset = htole32(HV_DEVTAB_OFFSET);
	in->devtab_entries = htole32(PVKIT_MAX_DEVICES);
	in->devtab_entry_size = htole32(sizeof(struct pvkit_dev_entry));
	in->hv_peer_id = htole32(HV_PEER_ID);
	in->nr_vectors = htole32(hv->nr_vectors);
	in->nr_kicks = htole32(hv->nr_kicks);
	in->nr_mem_ranges = htole32(hv->gm.nr);
	in->vec_config = htole32(HV_VEC_CONFIG);
	in->vec_hypercall = htole32(HV_VEC_HYPERCALL);
	in->kick_hypercall = htole32(HV_KICK_HYPERCALL);
	in->ram_size = htole64(hv->ram_size);
	for (i = 0; i < hv->gm.nr; i++) {
		in->mem[i].gpa = htole64(hv->gm.r[i].gpa);
		in->mem[i].size = htole64(hv->gm.r[i].size);
		in->mem[i].file_offset = htole64(hv->gm.r[i].file_offset);
	}
	/* the magic last: a half-written page is never "pvkit" */
	__atomic_store_n(&in->magic, htole32(PVKIT_MAGIC), __ATOMIC_RELEASE);
}

int hv_core_init(struct hv *hv, const struct hv_opts *opt,
		 const struct hv_plan *plan)
{
	struct gmem_range ranges[PVKIT_MAX_MEM_RANGES];
	unsigned int queues;
	int n, ret;

	hv->opt = *opt;
	hv->start_ms = ev_now_ms();
	hv->ram_size = opt->mem;
	hv->nr_mbox = opt->cpus;
	if (!opt->cpus || opt->cpus > PVKIT_MAX_MAILBOXES)
		return -EINVAL;

	queues = plan->queues + plan->spare_queues;
	/*
	 * One number for both: QEMU's vectors= bounds the guest's interrupt
	 * eventfds and the hv's doorbell eventfds alike.  Kicks need one
	 * fewer (no config channel); the spare one is never used.
	 */
	hv->nr_vectors = HV_FIRST_QUEUE_VEC + queues;
	hv->nr_kicks = hv->nr_vectors;
	hv->nr_chans = queues;
	if (hv->nr_vectors > PVKIT_MAX_VECTORS)
		return -E2BIG;

	n = gmem_qemu_layout(opt->machine, hv->ram_size, ranges,
			     PVKIT_MAX_MEM_RANGES);
	if (n < 0)
		return n;
	ret = gmem_init_map(&hv->gm, ranges, (unsigned int)n, hv->ram_size);
	if (ret)
		return ret;
	ret = hv_ram_create(hv);
	if (ret)
		return ret;
	ret = gmem_map_fd(&hv->gm, hv->ram_fd);
	if (ret)
		return ret;

	hv->shm_size = hv_shm_size_for(plan);
	if (hv->shm_size > HV_SHM_MAX_SIZE)
		return -E2BIG;
	ret = hv_shm_create(hv);
	if (ret)
		return ret;
	hv->ring_next = HV_RINGS_OFFSET;
	hv->ring_limit = hv->shm_size;

	ret = hv_eventfds_create(hv);
	if (ret)
		return ret;

	hv->features[0] = PVKIT_F_LOG;
	if (opt->testdev)
		hv->features[0] |= PVKIT_F_TESTDEV;
	if (plan->spare_queues)
		hv->features[0] |= PVKIT_F_HOTPLUG;
	hv_info_fill(hv);
	return 0;
}

void hv_core_exit(struct hv *hv)
{
	unsigned int i;

	/* what in-process devices allocated (back-ends have their own exit) */
	for (i = 0; i < PVKIT_MAX_DEVICES; i++) {
		struct dev *d = &hv->devs[i];

		if (d->used && d->priv && d->ops && d->ops->destroy)
			d->ops->destroy(hv, d);
	}
	for (i = 0; i < PVKIT_MAX_KICKS; i++) {
		if (hv->kick_fd[i] >= 0)
			close(hv->kick_fd[i]);
		hv->kick_fd[i] = -1;
	}
	for (i = 0; i < PVKIT_MAX_VECTORS; i++) {
		if (hv->irq_fd[i] >= 0)
			close(hv->irq_fd[i]);
		hv->irq_fd[i] = -1;
	}
	if (hv->shm)
		munmap(hv->shm, hv->shm_size);
	hv->shm = NULL;
	hv->info = NULL;
	if (hv->shm_fd >= 0)
		close(hv->shm_fd);
	hv->shm_fd = -1;
	gmem_unmap(&hv->gm);
	if (hv->ram_fd >= 0)
		close(hv->ram_fd);
	hv->ram_fd = -1;
}
