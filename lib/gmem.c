// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest memory map and RAM file mapping for host programs.
 *
 * Every address a guest gives us is hostile until gmem_translate() has
 * shown that it lies inside one range of a map we validated ourselves.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pvkit-host/gmem.h>

#define GMEM_PAGE_MASK	((uint64_t)PVKIT_PAGE_SIZE - 1)
#define GMEM_4G		0x100000000ULL

static int gmem_range_ok(const struct gmem_range *r, uint64_t file_size)
{
	if (!r->size || ((r->gpa | r->size | r->file_offset) & GMEM_PAGE_MASK))
		return 0;
	if (r->gpa + r->size < r->gpa)
		return 0;
	if (r->file_offset > file_size || r->size > file_size - r->file_offset)
		return 0;
	return 1;
}

int gmem_init_map(struct gmem *gm, const struct gmem_range *ranges,
		  unsigned int nr, uint64_t file_size)
{
	unsigned int i, j;

	if (!nr || nr > PVKIT_MAX_MEM_RANGES)
		return -EINVAL;
	for (i = 0; i < nr; i++) {
		if (!gmem_range_ok(&ranges[i], file_size))
			return -EINVAL;
		/* sorted by gpa, and no overlap in either space */
		if (i && ranges[i].gpa < ranges[i - 1].gpa + ranges[i - 1].size)
			return -EINVAL;
		for (j = 0; j < i; j++) {
			const struct gmem_range *a = &ranges[j], *b = &ranges[i];

			if (a->file_offset < b->file_offset + b->size &&
			    b->file_offset < a->file_offset + a->size)
				return -EINVAL;
		}
	}
	memset(gm->r, 0, sizeof(gm->r));
	memcpy(gm->r, ranges, nr * sizeof(*ranges));
	gm->nr = nr;
	gm->file_size = file_size;
	return 0;
}

int gmem_init_abi(struct gmem *gm, const struct pvkit_mem_range *ranges,
		  unsigned int nr, uint64_t file_size)
{
	struct gmem_range r[PVKIT_MAX_MEM_RANGES];
	unsigned int i;

	if (nr > PVKIT_MAX_MEM_RANGES)
		return -EINVAL;
	for (i = 0; i < nr; i++) {
		r[i].gpa = le64toh(ranges[i].gpa);
		r[i].size = le64toh(ranges[i].size);
		r[i].file_offset = le64toh(ranges[i].file_offset);
	}
	return gmem_init_map(gm, r, nr, file_size);
}

int gmem_map_fd(struct gmem *gm, int fd)
{
	struct stat st;
	void *p;

	if (fstat(fd, &st) < 0)
		return -errno;
	/* the file may not shrink below what the map promises */
	if ((uint64_t)st.st_size < gm->file_size || !gm->file_size)
		return -EINVAL;
	p = mmap(NULL, gm->file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	gm->base = p;
	return 0;
}

void gmem_unmap(struct gmem *gm)
{
	if (gm->base)
		munmap(gm->base, gm->file_size);
	gm->base = NULL;
}

void *gmem_translate(const struct gmem *gm, uint64_t gpa, uint64_t len)
{
	unsigned int i;

	if (!len || gpa + len < gpa || !gm->base)
		return NULL;
	for (i = 0; i < gm->nr; i++) {
		const struct gmem_range *r = &gm->r[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size) {
			/* whole range inside this one: no straddling */
			if (len > r->size - (gpa - r->gpa))
				return NULL;
			return gm->base + r->file_offset + (gpa - r->gpa);
		}
	}
	return NULL;
}

int gmem_copy_in(const struct gmem *gm, void *dst, uint64_t gpa,
		 uint64_t len)
{
	const void *src = gmem_translate(gm, gpa, len);

	if (!src)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int gmem_qemu_layout(const char *machine, uint64_t ram_size,
		     struct gmem_range *out, unsigned int max)
{
	uint64_t lowmem, below, above;

	if (!ram_size || (ram_size & GMEM_PAGE_MASK) || max < 2)
		return -EINVAL;
	/* mirrors the RAM split of QEMU's pc_init1() and pc_q35_init() */
	if (!strcmp(machine, "pc")) {
		lowmem = 0xe0000000ULL;
		if (ram_size >= lowmem)
			lowmem = 0xc0000000ULL;	/* gigabyte_align */
	} else if (!strcmp(machine, "q35")) {
		lowmem = ram_size >= 0xb0000000ULL ? 0x80000000ULL :
						     0xb0000000ULL;
	} else {
		return -EINVAL;
	}
	below = ram_size >= lowmem ? lowmem : ram_size;
	above = ram_size - below;
	out[0] = (struct gmem_range){ .gpa = 0, .size = below,
				      .file_offset = 0 };
	if (!above)
		return 1;
	out[1] = (struct gmem_range){ .gpa = GMEM_4G, .size = above,
				      .file_offset = below };
	return 2;
}
