// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit-hc: issue one raw hypercall from the guest shell and print its
 * result in decimal (PVKIT_IOC_HYPERCALL, nothing checked).  The scripted
 * hostile hosts take test commands this way while pvkit.ko holds the
 * shared region (devmem cannot reach it then).
 *
 * usage: pvkit-hc NR [ARG...]   (up to 6 arguments, any strtoull base)
 * Exit 0 when the call was made (whatever it returned), 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <pvkit/pvkit_ioctl.h>

int main(int argc, char **argv)
{
	struct pvkit_ioc_hypercall hc;
	char *end;
	int fd, i;

	if (argc < 2 || argc > 8) {
		fprintf(stderr, "usage: pvkit-hc NR [ARG...]\n");
		return 1;
	}
	memset(&hc, 0, sizeof(hc));
	hc.nr = strtoul(argv[1], &end, 0);
	for (i = 2; i < argc && !*end; i++)
		hc.args[i - 2] = strtoull(argv[i], &end, 0);
	if (*end) {
		fprintf(stderr, "pvkit-hc: not a number: %s\n", argv[i - 1]);
		return 1;
	}
	fd = open("/dev/pvkit", O_RDWR);
	if (fd < 0 || ioctl(fd, PVKIT_IOC_HYPERCALL, &hc)) {
		fprintf(stderr, "pvkit-hc: %s\n", strerror(errno));
		return 1;
	}
	printf("%lld\n", (long long)hc.ret);
	close(fd);
	return 0;
}
