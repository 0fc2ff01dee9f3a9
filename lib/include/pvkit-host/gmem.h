/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Guest memory as seen by host programs: the RAM file mapped once, plus a
 * private copy of the guest memory map.  Every guest-physical range a
 * guest hands us goes through gmem_translate(), which refuses anything not
 * wholly inside one range.  The map is never re-read from shared memory.
 */
#ifndef PVKIT_HOST_GMEM_H
#define PVKIT_HOST_GMEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <pvkit/abi.h>

struct gmem_range {
	uint64_t gpa;
	uint64_t size;
	uint64_t file_offset;
};

struct gmem {
	uint8_t *base;		/* RAM file mapping */
	uint64_t file_size;	/* bytes mapped */
	unsigned int nr;
	struct gmem_range r[PVKIT_MAX_MEM_RANGES];
};

/*
 * Validate @ranges (host byte order) against @file_size and copy them:
 * sorted by gpa, non-overlapping in gpa and in the file, page aligned,
 * inside the file.  Returns 0 or -EINVAL.
 */
int gmem_init_map(struct gmem *gm, const struct gmem_range *ranges,
		  unsigned int nr, uint64_t file_size);

/* Same, from the little-endian ABI form. */
int gmem_init_abi(struct gmem *gm, const struct pvkit_mem_range *ranges,
		  unsigned int nr, uint64_t file_size);

/* mmap @fd (MAP_SHARED, read-write) and attach it.  0 or -errno. */
int gmem_map_fd(struct gmem *gm, int fd);
void gmem_unmap(struct gmem *gm);

/*
 * Host pointer for [gpa, gpa + len) or NULL if the range is empty, wraps,
 * or is not wholly inside one memory-map range.
 */
void *gmem_translate(const struct gmem *gm, uint64_t gpa, uint64_t len);

/*
 * Copy [gpa, gpa + len) into private memory @dst, so that what the caller
 * validates is what it uses while the guest may rewrite the original
 * (indirect segment arrays, MAC tables).  0, or -EFAULT if the range is
 * not wholly inside one memory-map range (gmem_translate()).
 */
int gmem_copy_in(const struct gmem *gm, void *dst, uint64_t gpa,
		 uint64_t len);

/*
 * Append [p, p + len) to the @n iovecs at @iov; a range that continues
 * the last one in host memory extends it instead (guest segments that are
 * neighbours become one iovec).  The caller has room for one more.
 */
static inline void gmem_iov_add(struct iovec *iov, unsigned int *n, void *p,
				size_t len)
{
	struct iovec *last = *n ? &iov[*n - 1] : NULL;

	if (last && (uint8_t *)last->iov_base + last->iov_len == p) {
		last->iov_len += len;
		return;
	}
	iov[*n].iov_base = p;
	iov[*n].iov_len = len;
	(*n)++;
}

/*
 * Memory map QEMU uses for @ram_size bytes on @machine ("pc" or "q35"):
 * RAM below the PCI hole at gpa 0 and the rest at 4 GiB, both from the
 * start of the RAM file.  Returns the number of ranges or -EINVAL.
 */
int gmem_qemu_layout(const char *machine, uint64_t ram_size,
		     struct gmem_range *out, unsigned int max);

#endif /* PVKIT_HOST_GMEM_H */
