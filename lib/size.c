// SPDX-License-Identifier: GPL-2.0-only
/* Sizes on command lines: pvkit-hv --mem, --balloon target=, pvkit balloon. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <pvkit-host/size.h>

int size_parse(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (*end == '\0') {
		shift = 20;	/* plain number: MiB, like QEMU -m */
	} else {
		static const char units[] = "kmgt";
		const char *p = strchr(units, tolower((unsigned char)*end));

		if (p && *p) {
			shift = 10 * (unsigned int)(p - units + 1);
			end++;
		}
	}
	if (*end == 'b' || *end == 'B') {
		if (end[-1] >= '0' && end[-1] <= '9')
			shift = 0;	/* "123B": bytes */
		end++;
	}
	if (*end)
		return -EINVAL;
	if (v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}
