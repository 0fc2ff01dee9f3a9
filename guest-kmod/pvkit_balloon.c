// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit_balloon: the memory balloon front-end (ABI.md 11).
 *
 * The host sets a target (config target_pages, changed in place); a work
 * item inflates or deflates toward it, a list of up to 4096 blocks per
 * request.  2 MiB blocks come first (__GFP_NORETRY: never at the price of
 * reclaim storms or the OOM killer), 4 KiB pages when fragmentation
 * denies them -- so a host whose RAM is 2 MiB hugetlbfs pages can get
 * memory back at all.  4 KiB pages live on a balloon_dev_info, so
 * compaction migrates them (inflate the new page, deflate the old);
 * 2 MiB blocks fill whole pageblocks and stand in nobody's way.
 *
 * With DEFLATE_ON_OOM an OOM notifier gives pages back before the OOM
 * killer runs, and inflating then waits (oom_hold_s) instead of taking
 * them again at once while the host keeps its target: under pressure the
 * guest wins.  Free page reporting hands free blocks to the host without
 * any target.  Stats go to the host on request and every stats_interval_s.
 *
 * Everything from the host is clamped: the target to the RAM the kernel
 * manages, a response's status and count checked against what was sent.
 */
#include <linux/balloon_compaction.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/oom.h>
#include <linux/page_reporting.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/swap.h>
#include <linux/vmstat.h>
#include <linux/workqueue.h>
#include <pvkit/balloon.h>
#include <pvkit/bus.h>
#include <pvkit/fe.h>

MODULE_IMPORT_NS(PVKIT);

#define PVBAL_HUGE_PAGES	(1U << PVKIT_BALLOON_HUGE_ORDER)
#define PVBAL_CALL_TIMEOUT_MS	5000
#define PVBAL_RESTART_MS	60000
#define PVBAL_CONNECT_WAIT_MS	10000
#define PVBAL_RETRY_MIN_MS	200	/* after a failed allocation */
#define PVBAL_RETRY_MAX_MS	5000
#define PVBAL_REPORT_MAX	PAGE_REPORTING_CAPACITY
/* without deflate-on-OOM: available memory never inflated (4 KiB pages) */
#define PVBAL_FLOOR_MIN		(16UL << (20 - PAGE_SHIFT))

static unsigned int stats_interval_s = 10;
module_param(stats_interval_s, uint, 0644);
MODULE_PARM_DESC(stats_interval_s, "seconds between stats reports (0: only on request)");

static unsigned int oom_pages = 4096;
module_param(oom_pages, uint, 0644);
MODULE_PARM_DESC(oom_pages, "4 KiB pages given back per OOM notification");

static unsigned int oom_hold_s = 10;
module_param(oom_hold_s, uint, 0644);
MODULE_PARM_DESC(oom_hold_s, "seconds without inflating after an OOM deflate");

static bool free_page_reporting = true;
module_param(free_page_reporting, bool, 0444);
MODULE_PARM_DESC(free_page_reporting, "report free memory to the host (where it takes reports)");

static bool use_huge = true;
module_param(use_huge, bool, 0644);
MODULE_PARM_DESC(use_huge, "inflate 2 MiB blocks first (where the host takes them)");

/* One synchronous request slot per queue: requests and their answers. */
struct pvbal_q {
	struct pvkit_fe_queue fq;
	struct pvkit_fe_call call;
	union {
		struct pvkit_balloon_req list;
		struct pvkit_balloon_stats_req stats;
	} slot;
	struct pvkit_balloon_rsp rsp;
	__le64 *entries;		/* the page list, physically contiguous */
};

struct pvbal {
	struct pvkit_device *pdev;
	struct pvkit_fe_dev fd;
	struct pvbal_q q[PVKIT_BALLOON_NR_QUEUES];
	u64 features;

	/* everything below under lock, but the counters' readers */
	struct mutex lock;
	struct balloon_dev_info bdi;	/* 4 KiB pages, movable */
	struct list_head huge;		/* 2 MiB blocks (head pages) */
	unsigned long nr_small;		/* 4 KiB pages in bdi */
	unsigned long nr_huge;		/* 2 MiB blocks */
	unsigned long target;		/* 4 KiB pages, clamped */
	u32 stats_seq;			/* the last one answered */
	unsigned long oom_hold_until;	/* jiffies: no inflating before */
	unsigned int retry_ms;		/* backoff after failed allocations */

	/* counters (debugfs) */
	unsigned long huge_fallbacks;	/* 2 MiB wanted, 4 KiB taken */
	unsigned long migrated;
	unsigned long oom_deflated;	/* 4 KiB pages */
	unsigned long reported;		/* 4 KiB pages reported */
	unsigned long refused;		/* requests the host refused */

	struct delayed_work size_work;
	struct delayed_work stats_work;
	struct notifier_block oom_nb;
	bool oom_registered;
	struct page_reporting_dev_info pr;
	bool pr_registered;
	struct dentry *dbg;
};

static struct dentry *pvbal_dbg_root;

static bool pvbal_has(const struct pvbal *b, u64 f)
{
	return b->features & f;
}

static unsigned long pvbal_actual(const struct pvbal *b)
{
	return b->nr_small + b->nr_huge * PVBAL_HUGE_PAGES;
}

/* ------------------------------------------------------------- the host */

static struct pvbal *fd_to_pvbal(struct pvkit_fe_dev *fd)
{
	return container_of(fd, struct pvbal, fd);
}

static bool pvbal_complete(struct pvkit_fe_queue *fq, struct pvkit_fe_req *r,
			   const void *rsp, void *ctx)
{
	struct pvbal_q *q = container_of(fq, struct pvbal_q, fq);
	const struct pvkit_balloon_rsp *br = rsp;

	/* an unknown status is a protocol violation (ABI.md 8): broken */
	if (br->status > PVKIT_BALLOON_S_UNSUPP) {
		snprintf(fq->why, sizeof(fq->why),
			 "queue %u: unknown status %u", fq->index, br->status);
		return false;
	}
	return pvkit_fe_call_complete(&q->call, rsp);
}

static void pvbal_fail(struct pvkit_fe_dev *fd, struct pvkit_fe_req *r,
		       int err)
{
	pvkit_fe_call_fail(container_of(r, struct pvkit_fe_call, fr));
}

static void pvbal_nop(struct pvkit_fe_dev *fd)
{
}

static void pvbal_gone(struct pvkit_fe_dev *fd)
{
	struct pvbal *b = fd_to_pvbal(fd);

	dev_warn(&b->pdev->dev, "device gone: the balloon stops\n");
}

static const struct pvkit_fe_dev_ops pvbal_fe_ops = {
	.quiesce	= pvbal_nop,
	.unquiesce	= pvbal_nop,
	.restart	= pvbal_nop,
	.complete	= pvbal_complete,
	.fail		= pvbal_fail,
	.gone		= pvbal_gone,
};

static irqreturn_t pvbal_irq(int irq, void *data)
{
	struct pvbal_q *q = data;
	struct pvbal *b = dev_get_drvdata(&q->fq.pdev->dev);
	struct pvkit_balloon_rsp rsp;
	unsigned long flags;

	if (!b)
		return IRQ_HANDLED;
	spin_lock_irqsave(&q->fq.lock, flags);
	pvkit_fe_dev_reap(&b->fd, &q->fq, &rsp, NULL);
	spin_unlock_irqrestore(&q->fq.lock, flags);
	return IRQ_HANDLED;
}

/*
 * Send @n entries of @op on queue @qi and wait.  0 when the host took
 * the whole list (its count must be what we sent), else -errno: -EINVAL
 * refused (the host resets the device), -EIO no answer.
 */
static int pvbal_send(struct pvbal *b, unsigned int qi, u8 op, u32 n,
		      unsigned long pages)
{
	struct pvbal_q *q = &b->q[qi];
	int err;

	memset(&q->slot.list, 0, sizeof(q->slot.list));
	q->slot.list.op = op;
	q->slot.list.nr_entries = cpu_to_le32(n);
	if (n)
		q->slot.list.list_gpa = cpu_to_le64(virt_to_phys(q->entries));
	err = pvkit_fe_call(&b->fd, &q->fq, &q->call, 0, PVBAL_CALL_TIMEOUT_MS,
			    PVBAL_RESTART_MS);
	if (err)
		return err;
	if (q->rsp.status == PVKIT_BALLOON_S_OK &&
	    (op == PVKIT_BALLOON_OP_DEFLATE_ALL ||
	     le32_to_cpu(q->rsp.done) == min_t(unsigned long, pages, U32_MAX)))
		return 0;
	b->refused++;
	dev_err_ratelimited(&b->pdev->dev,
			    "host answered op %u (%u entries, %lu pages): status %u, done %u\n",
			    op, n, pages, q->rsp.status,
			    le32_to_cpu(q->rsp.done));
	return q->rsp.status == PVKIT_BALLOON_S_UNSUPP ? -EOPNOTSUPP : -EINVAL;
}

static __le64 pvbal_entry(struct page *page, unsigned int order)
{
	return cpu_to_le64(page_to_phys(page) | order);
}

/* --------------------------------------------------------------- inflate */

static void pvbal_managed(struct pvbal *b, struct page *page, long pages)
{
	/* with deflate-on-OOM the pages stay the guest's to take back */
	if (!pvbal_has(b, PVKIT_BALLOON_F_DEFLATE_ON_OOM))
		adjust_managed_page_count(page, pages);
}

/*
 * Without deflate-on-OOM nothing gives balloon pages back under pressure:
 * inflating stops while less than 1/32 of RAM (at least 16 MiB) is
 * available, or a host target near the RAM size leaves the kernel
 * nothing to run on ("System is deadlocked on memory").  With it the
 * OOM notifier is the guard, and the target may take everything.
 */
static unsigned long pvbal_room(struct pvbal *b, unsigned long want)
{
	unsigned long floor, avail;

	if (pvbal_has(b, PVKIT_BALLOON_F_DEFLATE_ON_OOM))
		return want;
	floor = max(PVBAL_FLOOR_MIN, totalram_pages() >> 5);
	avail = max(si_mem_available(), 0L);
	return avail > floor ? min(want, avail - floor) : 0;
}

/*
 * One inflate request toward @want more pages: 2 MiB blocks while they
 * come, then 4 KiB pages.  Returns the pages inflated, or -errno (-ENOMEM:
 * nothing could be allocated, or nothing may be).  Lock held.
 */
static long pvbal_inflate(struct pvbal *b, unsigned long want)
{
	struct pvbal_q *q = &b->q[PVKIT_BALLOON_Q_PAGES];
	LIST_HEAD(small);
	LIST_HEAD(huge);
	struct page *page, *next;
	unsigned long pages = 0;
	bool try_huge = use_huge && pvbal_has(b, PVKIT_BALLOON_F_HUGE);
	u32 n = 0;
	int err;

	want = pvbal_room(b, want);
	while (n < PVKIT_BALLOON_MAX_ENTRIES && pages < want) {
		/* others allocate meanwhile: the floor holds all along */
		if (pages && !(pages % PVBAL_HUGE_PAGES) && !pvbal_room(b, 1))
			break;
		if (try_huge && want - pages >= PVBAL_HUGE_PAGES) {
			page = alloc_pages(GFP_HIGHUSER | __GFP_NORETRY |
					   __GFP_NOWARN | __GFP_NOMEMALLOC,
					   PVKIT_BALLOON_HUGE_ORDER);
			if (page) {
				list_add(&page->lru, &huge);
				q->entries[n++] = pvbal_entry(page,
						PVKIT_BALLOON_HUGE_ORDER);
				pages += PVBAL_HUGE_PAGES;
				continue;
			}
			/* fragmented: the rest of this round in 4 KiB */
			try_huge = false;
			b->huge_fallbacks++;
		}
		page = balloon_page_alloc();
		if (!page)
			break;
		list_add(&page->lru, &small);
		q->entries[n++] = pvbal_entry(page, 0);
		pages++;
	}
	if (!n)
		return -ENOMEM;
	err = pvbal_send(b, PVKIT_BALLOON_Q_PAGES, PVKIT_BALLOON_OP_INFLATE, n,
			 pages);
	if (err) {
		/* not the host's: give them back to the allocator */
		list_for_each_entry_safe(page, next, &huge, lru) {
			list_del(&page->lru);
			__free_pages(page, PVKIT_BALLOON_HUGE_ORDER);
		}
		list_for_each_entry_safe(page, next, &small, lru) {
			list_del(&page->lru);
			put_page(page);
		}
		return err;
	}
	list_for_each_entry_safe(page, next, &huge, lru) {
		list_move(&page->lru, &b->huge);
		pvbal_managed(b, page, -(long)PVBAL_HUGE_PAGES);
		b->nr_huge++;
	}
	list_for_each_entry_safe(page, next, &small, lru) {
		list_del(&page->lru);
		balloon_page_enqueue(&b->bdi, page);
		pvbal_managed(b, page, -1);
		b->nr_small++;
	}
	return pages;
}

/* --------------------------------------------------------------- deflate */

/*
 * One deflate request of up to @want pages (2 MiB blocks only while at
 * least 512 are wanted, or when @any).  The pages go back to the
 * allocator only after the host's answer.  Pages deflated or -errno.
 * Lock held.
 */
static long pvbal_deflate(struct pvbal *b, unsigned long want, bool any)
{
	struct pvbal_q *q = &b->q[PVKIT_BALLOON_Q_PAGES];
	unsigned long pages = 0, ns = 0;
	struct page *page, *next;
	LIST_HEAD(small);
	LIST_HEAD(huge);
	u32 n = 0;
	int err;

	while (n < PVKIT_BALLOON_MAX_ENTRIES && b->nr_huge &&
	       (want - pages >= PVBAL_HUGE_PAGES || (any && pages < want))) {
		page = list_first_entry(&b->huge, struct page, lru);
		list_move(&page->lru, &huge);
		b->nr_huge--;
		q->entries[n++] = pvbal_entry(page, PVKIT_BALLOON_HUGE_ORDER);
		pages += PVBAL_HUGE_PAGES;
	}
	if (pages < want && n < PVKIT_BALLOON_MAX_ENTRIES) {
		ns = balloon_page_list_dequeue(&b->bdi, &small,
					       min(want - pages,
						   (unsigned long)(PVKIT_BALLOON_MAX_ENTRIES - n)));
		b->nr_small -= ns;
		list_for_each_entry(page, &small, lru)
			q->entries[n++] = pvbal_entry(page, 0);
		pages += ns;
	}
	if (!n)
		return 0;
	err = pvbal_send(b, PVKIT_BALLOON_Q_PAGES, PVKIT_BALLOON_OP_DEFLATE, n,
			 pages);
	if (err && !pvkit_fe_dev_dead(&b->fd)) {
		/* still the host's as far as it knows: keep them */
		list_splice(&huge, &b->huge);
		b->nr_huge += (pages - ns) / PVBAL_HUGE_PAGES;
		b->nr_small += balloon_page_list_enqueue(&b->bdi, &small);
		return err;
	}
	/* answered, or a dead device: the memory is ours again */
	list_for_each_entry_safe(page, next, &huge, lru) {
		list_del(&page->lru);
		pvbal_managed(b, page, PVBAL_HUGE_PAGES);
		__free_pages(page, PVKIT_BALLOON_HUGE_ORDER);
	}
	list_for_each_entry_safe(page, next, &small, lru) {
		list_del(&page->lru);
		pvbal_managed(b, page, 1);
		put_page(page);
	}
	return err ? err : (long)pages;
}

/* -------------------------------------------------------- toward target */

static void pvbal_read_config(struct pvbal *b, struct pvkit_balloon_config *c)
{
	memset(c, 0, sizeof(*c));
	memcpy(c, b->pdev->config, min_t(size_t, b->pdev->config_size,
					 sizeof(*c)));
}

/*
 * The host's target, clamped to what the kernel manages (balloon pages
 * count there only with deflate-on-OOM, see pvbal_managed()).
 */
static unsigned long pvbal_target(struct pvbal *b)
{
	struct pvkit_balloon_config c;
	u64 t, ram = totalram_pages();

	pvbal_read_config(b, &c);
	t = le64_to_cpu(c.target_pages);
	if (!pvbal_has(b, PVKIT_BALLOON_F_DEFLATE_ON_OOM))
		ram += pvbal_actual(b);
	return min_t(u64, t, ram);
}

static void pvbal_size_work(struct work_struct *work)
{
	struct pvbal *b = container_of(to_delayed_work(work), struct pvbal,
				       size_work);
	unsigned long target, actual;
	long done = 0;

	mutex_lock(&b->lock);
	if (pvkit_fe_dev_dead(&b->fd))
		goto out;
	target = pvbal_target(b);
	b->target = target;
	actual = pvbal_actual(b);
	if (actual < target) {
		if (time_before(jiffies, b->oom_hold_until)) {
			/* memory was short a moment ago: not yet */
			schedule_delayed_work(&b->size_work,
					      b->oom_hold_until - jiffies);
			goto out;
		}
		done = pvbal_inflate(b, target - actual);
	} else if (actual > target) {
		done = pvbal_deflate(b, actual - target, true);
	}
	if (done > 0) {
		b->retry_ms = 0;
		if (pvbal_actual(b) != target)
			schedule_delayed_work(&b->size_work, 0);
	} else if (done == -ENOMEM) {
		/* no memory to give now: back off, never spin */
		b->retry_ms = clamp(b->retry_ms * 2, PVBAL_RETRY_MIN_MS,
				    PVBAL_RETRY_MAX_MS);
		schedule_delayed_work(&b->size_work,
				      msecs_to_jiffies(b->retry_ms));
	}
	/* other errors: the device resets or broke; a state change requeues */
out:
	mutex_unlock(&b->lock);
}

/* ----------------------------------------------------------------- stats */

static void pvbal_stats_work(struct work_struct *work)
{
	struct pvbal *b = container_of(to_delayed_work(work), struct pvbal,
				       stats_work);
	struct pvbal_q *q = &b->q[PVKIT_BALLOON_Q_STATS];
	unsigned long events[NR_VM_EVENT_ITEMS];
	struct pvkit_balloon_stats_req *s = &q->slot.stats;
	struct pvkit_balloon_config c;
	struct sysinfo i;
	u32 valid = 0;

	if (!pvbal_has(b, PVKIT_BALLOON_F_STATS) || pvkit_fe_dev_dead(&b->fd))
		return;
	pvbal_read_config(b, &c);
	all_vm_events(events);
	si_meminfo(&i);
	mutex_lock(&b->lock);
	memset(s, 0, sizeof(*s));
#define PVBAL_STAT(n, v) do {					\
		s->stat[n] = cpu_to_le64(v);			\
		valid |= 1U << (n);				\
	} while (0)
	PVBAL_STAT(PVKIT_BALLOON_STAT_SWAP_IN, events[PSWPIN]);
	PVBAL_STAT(PVKIT_BALLOON_STAT_SWAP_OUT, events[PSWPOUT]);
	PVBAL_STAT(PVKIT_BALLOON_STAT_MAJFLT, events[PGMAJFAULT]);
	PVBAL_STAT(PVKIT_BALLOON_STAT_MINFLT, events[PGFAULT]);
	PVBAL_STAT(PVKIT_BALLOON_STAT_FREE, (u64)i.freeram * i.mem_unit);
	PVBAL_STAT(PVKIT_BALLOON_STAT_TOTAL, (u64)i.totalram * i.mem_unit);
	PVBAL_STAT(PVKIT_BALLOON_STAT_AVAIL, (u64)si_mem_available() << PAGE_SHIFT);
	PVBAL_STAT(PVKIT_BALLOON_STAT_CACHES,
		   (u64)global_node_page_state(NR_FILE_PAGES) << PAGE_SHIFT);
#ifdef CONFIG_HUGETLB_PAGE
	PVBAL_STAT(PVKIT_BALLOON_STAT_HTLB_ALLOC, events[HTLB_BUDDY_PGALLOC]);
	PVBAL_STAT(PVKIT_BALLOON_STAT_HTLB_FAIL,
		   events[HTLB_BUDDY_PGALLOC_FAIL]);
#endif
	PVBAL_STAT(PVKIT_BALLOON_STAT_BALLOON, (u64)pvbal_actual(b) << PAGE_SHIFT);
	PVBAL_STAT(PVKIT_BALLOON_STAT_HUGE, b->nr_huge);
	PVBAL_STAT(PVKIT_BALLOON_STAT_OOM, b->oom_deflated);
	PVBAL_STAT(PVKIT_BALLOON_STAT_MIGRATED, b->migrated);
#undef PVBAL_STAT
	s->valid = cpu_to_le32(valid);
	s->seq = c.stats_seq;
	if (!pvkit_fe_call(&b->fd, &q->fq, &q->call, 0, PVBAL_CALL_TIMEOUT_MS,
			   PVBAL_RESTART_MS)) {
		/* refused: not answered; the next config change sends again */
		if (q->rsp.status == PVKIT_BALLOON_S_OK) {
			b->stats_seq = le32_to_cpu(c.stats_seq);
		} else {
			b->refused++;
			dev_err_ratelimited(&b->pdev->dev,
					    "host refused the stats: status %u\n",
					    q->rsp.status);
		}
	}
	mutex_unlock(&b->lock);
	if (stats_interval_s)
		schedule_delayed_work(&b->stats_work, stats_interval_s * HZ);
}

/* ------------------------------------------------- the kernel's side */

#ifdef CONFIG_BALLOON_COMPACTION
/*
 * Compaction moves a 4 KiB balloon page: the host takes the new page
 * first, then gives the old one back, so neither is ever the guest's and
 * the host's at once.  Busy: try again later.
 */
static int pvbal_migratepage(struct balloon_dev_info *bdi,
			     struct page *newpage, struct page *page,
			     enum migrate_mode mode)
{
	struct pvbal *b = container_of(bdi, struct pvbal, bdi);
	struct pvbal_q *q = &b->q[PVKIT_BALLOON_Q_PAGES];
	unsigned long flags;

	if (!mutex_trylock(&b->lock))
		return -EAGAIN;
	q->entries[0] = pvbal_entry(newpage, 0);
	if (pvbal_send(b, PVKIT_BALLOON_Q_PAGES, PVKIT_BALLOON_OP_INFLATE, 1,
		       1)) {
		mutex_unlock(&b->lock);
		return -EAGAIN;
	}
	get_page(newpage);	/* the balloon's reference */
	if (!pvbal_has(b, PVKIT_BALLOON_F_DEFLATE_ON_OOM) &&
	    page_zone(page) != page_zone(newpage)) {
		adjust_managed_page_count(page, 1);
		adjust_managed_page_count(newpage, -1);
	}
	spin_lock_irqsave(&bdi->pages_lock, flags);
	balloon_page_insert(bdi, newpage);
	bdi->isolated_pages--;
	__count_vm_event(BALLOON_MIGRATE);
	spin_unlock_irqrestore(&bdi->pages_lock, flags);
	b->migrated++;
	/* a failure leaves the host counting a page the guest uses: safe */
	q->entries[0] = pvbal_entry(page, 0);
	pvbal_send(b, PVKIT_BALLOON_Q_PAGES, PVKIT_BALLOON_OP_DEFLATE, 1, 1);
	mutex_unlock(&b->lock);
	balloon_page_finalize(page);
	put_page(page);		/* the balloon's reference */
	return MIGRATEPAGE_SUCCESS;
}
#endif

/* Out of memory: give some back first, and hold off inflating. */
static int pvbal_oom_notify(struct notifier_block *nb, unsigned long dummy,
			    void *parm)
{
	struct pvbal *b = container_of(nb, struct pvbal, oom_nb);
	unsigned long *freed = parm;
	long done;

	mutex_lock(&b->lock);
	b->oom_hold_until = jiffies + oom_hold_s * HZ;
	done = pvbal_deflate(b, min_t(unsigned long, oom_pages,
				      pvbal_actual(b)), true);
	if (done > 0) {
		*freed += done;
		b->oom_deflated += done;
	}
	mutex_unlock(&b->lock);
	dev_info_ratelimited(&b->pdev->dev,
			     "out of memory: %ld pages given back, no inflating for %u s\n",
			     done, oom_hold_s);
	return NOTIFY_OK;
}

/* Free page reporting: these free blocks may lose their contents. */
static int pvbal_report(struct page_reporting_dev_info *pr,
			struct scatterlist *sgl, unsigned int nents)
{
	struct pvbal *b = container_of(pr, struct pvbal, pr);
	struct pvbal_q *q = &b->q[PVKIT_BALLOON_Q_REPORT];
	struct scatterlist *sg;
	unsigned long pages = 0;
	unsigned int i;
	int err;

	if (nents > PVBAL_REPORT_MAX)
		return -EINVAL;
	for_each_sg(sgl, sg, nents, i) {
		q->entries[i] = pvbal_entry(sg_page(sg),
					    get_order(sg->length));
		pages += sg->length >> PAGE_SHIFT;
	}
	/* only this callback uses the report queue: no lock needed */
	err = pvbal_send(b, PVKIT_BALLOON_Q_REPORT, PVKIT_BALLOON_OP_REPORT,
			 nents, pages);
	if (!err)
		b->reported += pages;
	return err;
}

/* ------------------------------------------------------------ debugfs */

static int pvbal_status_show(struct seq_file *m, void *v)
{
	struct pvbal *b = m->private;

	seq_printf(m, "target_pages: %lu\n", b->target);
	seq_printf(m, "actual_pages: %lu\n", pvbal_actual(b));
	seq_printf(m, "huge_blocks: %lu\n", b->nr_huge);
	seq_printf(m, "small_pages: %lu\n", b->nr_small);
	seq_printf(m, "huge_fallbacks: %lu\n", b->huge_fallbacks);
	seq_printf(m, "migrated: %lu\n", b->migrated);
	seq_printf(m, "oom_deflated: %lu\n", b->oom_deflated);
	seq_printf(m, "reported_pages: %lu\n", b->reported);
	seq_printf(m, "refused: %lu\n", b->refused);
	seq_printf(m, "stats_seq: %u\n", b->stats_seq);
	seq_printf(m, "features: %#llx\n", b->features);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(pvbal_status);

/* ---------------------------------------------------- host changes */

static void pvbal_config_changed(struct pvkit_device *pdev, const u8 *old)
{
	struct pvbal *b = dev_get_drvdata(&pdev->dev);
	struct pvkit_balloon_config c;

	if (!b)
		return;
	pvbal_read_config(b, &c);
	mod_delayed_work(system_freezable_wq, &b->size_work, 0);
	if (le32_to_cpu(c.stats_seq) != b->stats_seq)
		mod_delayed_work(system_freezable_wq, &b->stats_work, 0);
}

static void pvbal_state_changed(struct pvkit_device *pdev, u32 old_state)
{
	struct pvbal *b = dev_get_drvdata(&pdev->dev);

	if (!b)
		return;
	pvkit_fe_dev_state_changed(&b->fd, old_state);
	/* after a reset the target may be owed a request that failed */
	if (READ_ONCE(pdev->state) == PVKIT_DEV_STATE_CONNECTED)
		mod_delayed_work(system_freezable_wq, &b->size_work, 0);
}

/* ------------------------------------------------------------- probe */

static int pvbal_init_queues(struct pvbal *b)
{
	static const u32 req[PVKIT_BALLOON_NR_QUEUES] = {
		sizeof(struct pvkit_balloon_req),
		sizeof(struct pvkit_balloon_stats_req),
		sizeof(struct pvkit_balloon_req),
	};
	unsigned int i;
	int err;

	if (b->pdev->nr_queues != PVKIT_BALLOON_NR_QUEUES) {
		dev_err(&b->pdev->dev, "%u queues, expected %u\n",
			b->pdev->nr_queues, PVKIT_BALLOON_NR_QUEUES);
		return -EINVAL;
	}
	for (i = 0; i < PVKIT_BALLOON_NR_QUEUES; i++) {
		struct pvbal_q *q = &b->q[i];

		err = pvkit_fe_queue_init(&q->fq, b->pdev, i, 1, req[i],
					  sizeof(struct pvkit_balloon_rsp));
		if (err)
			return err;
		pvkit_fe_call_init(&q->call, &q->slot, &q->rsp,
				   sizeof(q->rsp));
		if (i != PVKIT_BALLOON_Q_STATS) {
			/* kmalloc memory is physically contiguous */
			q->entries = kmalloc_array(PVKIT_BALLOON_MAX_ENTRIES,
						   sizeof(__le64), GFP_KERNEL);
			if (!q->entries)
				return -ENOMEM;
		}
		snprintf(q->fq.name, sizeof(q->fq.name), "%s-%s",
			 dev_name(&b->pdev->dev),
			 i == 0 ? "pages" : i == 1 ? "stats" : "report");
		err = pvkit_fe_queue_bind_irq(&q->fq, pvbal_irq, q);
		if (err)
			return err;
		b->fd.queues[i] = &q->fq;
	}
	return 0;
}

static void pvbal_free_queues(struct pvbal *b)
{
	unsigned int i;

	for (i = 0; i < PVKIT_BALLOON_NR_QUEUES; i++) {
		struct pvbal_q *q = &b->q[i];

		if (q->fq.irq)
			pvkit_fe_queue_unbind_irq(&q->fq, q);
		kfree(q->entries);
		q->entries = NULL;
		pvkit_fe_queue_destroy(&q->fq);
	}
}

/* Everything back to the allocator: told to the host while it listens. */
static void pvbal_empty(struct pvbal *b)
{
	long done;

	mutex_lock(&b->lock);
	while (pvbal_actual(b)) {
		done = pvbal_deflate(b, pvbal_actual(b), true);
		if (done <= 0 && !pvkit_fe_dev_dead(&b->fd)) {
			dev_warn(&b->pdev->dev, "deflate failed (%ld): %lu pages kept\n",
				 done, pvbal_actual(b));
			break;
		}
	}
	mutex_unlock(&b->lock);
}

static int pvbal_probe(struct pvkit_device *pdev)
{
	struct pvkit_balloon_config c;
	struct pvbal *b;
	int err;

	b = kzalloc(sizeof(*b), GFP_KERNEL);
	if (!b)
		return -ENOMEM;
	b->pdev = pdev;
	mutex_init(&b->lock);
	INIT_LIST_HEAD(&b->huge);
	balloon_devinfo_init(&b->bdi);
#ifdef CONFIG_BALLOON_COMPACTION
	b->bdi.migratepage = pvbal_migratepage;
#endif
	INIT_DELAYED_WORK(&b->size_work, pvbal_size_work);
	INIT_DELAYED_WORK(&b->stats_work, pvbal_stats_work);
	b->features = pdev->features & PVKIT_BALLOON_F_KNOWN;
	if (!free_page_reporting)
		b->features &= ~PVKIT_BALLOON_F_REPORTING;
	if (pdev->config_size < offsetofend(struct pvkit_balloon_config,
					    ram_pages)) {
		dev_err(&pdev->dev, "config too short: %u bytes\n",
			pdev->config_size);
		err = -EINVAL;
		goto err_free;
	}
	err = pvkit_fe_dev_init(&b->fd, pdev, &pvbal_fe_ops,
				PVKIT_BALLOON_NR_QUEUES,
				sizeof(struct pvkit_balloon_rsp));
	if (err)
		goto err_free;
	b->fd.name = dev_name(&pdev->dev);
	b->fd.noun = "balloon";
	b->fd.features = b->features;
	err = pvbal_init_queues(b);
	if (err)
		goto err_queues;
	dev_set_drvdata(&pdev->dev, b);
	err = pvkit_fe_dev_connect(&b->fd, PVBAL_CONNECT_WAIT_MS);
	if (err) {
		dev_err(&pdev->dev, "cannot connect: %d\n", err);
		goto err_clear;
	}
	/* a fresh driver holds nothing, whatever an earlier one left */
	pvkit_fe_dev_set_no_events(&b->fd, true);
	mutex_lock(&b->lock);
	err = pvbal_send(b, PVKIT_BALLOON_Q_PAGES, PVKIT_BALLOON_OP_DEFLATE_ALL,
			 0, 0);
	mutex_unlock(&b->lock);
	pvkit_fe_dev_set_no_events(&b->fd, false);
	if (err)
		goto err_disconnect;

	if (pvbal_has(b, PVKIT_BALLOON_F_DEFLATE_ON_OOM)) {
		b->oom_nb.notifier_call = pvbal_oom_notify;
		b->oom_nb.priority = 80;	/* before others free caches */
		err = register_oom_notifier(&b->oom_nb);
		if (err)
			goto err_disconnect;
		b->oom_registered = true;
	}
	if (pvbal_has(b, PVKIT_BALLOON_F_REPORTING)) {
		b->pr.report = pvbal_report;
		/* 0: pageblock order, 2 MiB -- what any host can release */
		b->pr.order = 0;
		err = page_reporting_register(&b->pr);
		if (err)
			dev_warn(&pdev->dev, "free page reporting not available: %d\n",
				 err);
		else
			b->pr_registered = true;
	}
	b->dbg = debugfs_create_dir(dev_name(&pdev->dev), pvbal_dbg_root);
	debugfs_create_file("status", 0444, b->dbg, b, &pvbal_status_fops);

	pvbal_read_config(b, &c);
	dev_info(&pdev->dev, "pvkit balloon: target %llu pages, host releases %s blocks, features %#llx\n",
		 le64_to_cpu(c.target_pages), c.host_order ? "2 MiB" : "4 KiB",
		 b->features);
	mod_delayed_work(system_freezable_wq, &b->size_work, 0);
	if (pvbal_has(b, PVKIT_BALLOON_F_STATS))
		mod_delayed_work(system_freezable_wq, &b->stats_work, 0);
	return 0;

err_disconnect:
	pvkit_fe_dev_remove_end(&b->fd);
err_clear:
	dev_set_drvdata(&pdev->dev, NULL);
err_queues:
	pvbal_free_queues(b);
	pvkit_fe_dev_destroy(&b->fd);
err_free:
	kfree(b);
	return err;
}

static void pvbal_remove(struct pvkit_device *pdev)
{
	struct pvbal *b = dev_get_drvdata(&pdev->dev);

	pvkit_fe_dev_remove_begin(&b->fd);
	if (b->pr_registered)
		page_reporting_unregister(&b->pr);
	if (b->oom_registered)
		unregister_oom_notifier(&b->oom_nb);
	cancel_delayed_work_sync(&b->size_work);
	cancel_delayed_work_sync(&b->stats_work);
	debugfs_remove_recursive(b->dbg);
	pvbal_empty(b);
	pvkit_fe_dev_remove_end(&b->fd);
	dev_set_drvdata(&pdev->dev, NULL);
	pvbal_free_queues(b);
	pvkit_fe_dev_destroy(&b->fd);
	kfree(b);
}

static struct pvkit_driver pvbal_driver = {
	.driver.name	= KBUILD_MODNAME,
	.type		= PVKIT_DEV_BALLOON,
	.probe		= pvbal_probe,
	.remove		= pvbal_remove,
	.state_changed	= pvbal_state_changed,
	.config_changed	= pvbal_config_changed,
};

static int __init pvbal_init(void)
{
	int err;

	pvbal_dbg_root = debugfs_create_dir(KBUILD_MODNAME, NULL);
	err = pvkit_register_driver(&pvbal_driver);
	if (err)
		debugfs_remove_recursive(pvbal_dbg_root);
	return err;
}
module_init(pvbal_init);

static void __exit pvbal_exit(void)
{
	pvkit_unregister_driver(&pvbal_driver);
	debugfs_remove_recursive(pvbal_dbg_root);
}
module_exit(pvbal_exit);

MODULE_DESCRIPTION("pvkit memory balloon front-end");
MODULE_AUTHOR("The pvkit authors");
MODULE_LICENSE("GPL");
