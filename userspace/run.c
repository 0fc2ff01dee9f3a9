// SPDX-License-Identifier: GPL-2.0-only
/* pvkit run ARGS...: exec pvkit-hv (next to pvkit, else from PATH). */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "include/pvkit.h"

int cmd_run(int argc, char **argv)
{
	char self[PATH_MAX], hv[PATH_MAX + 16];
	ssize_t n;

	(void)argc;
	if (argv[1] && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) &&
	    !argv[2]) {
		printf("Usage: pvkit run [pvkit-hv OPTIONS]\n"
		       "Starts a VM in the foreground; see pvkit-hv --help.\n");
		/* show the hypervisor's options too, if it is there */
		fflush(stdout);
	}
	argv[0] = "pvkit-hv";
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		snprintf(hv, sizeof(hv), "%s/pvkit-hv", dirname(self));
		if (!access(hv, X_OK)) {
			execv(hv, argv);
			fprintf(stderr, "pvkit: cannot run %s: %s\n", hv,
				strerror(errno));
			return 1;
		}
	}
	execvp("pvkit-hv", argv);
	fprintf(stderr, "pvkit: cannot run pvkit-hv: %s\n", strerror(errno));
	return 1;
}
