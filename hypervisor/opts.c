// SPDX-License-Identifier: GPL-2.0-only
/* pvkit-hv command line parsing.  Every error names the bad argument. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvkit-host/size.h>

#include "include/kind.h"
#include "include/opts.h"

void opts_usage(FILE *f)
{
	char kinds[2048] = "";
	size_t len = 0;
	unsigned int i;

	for (i = 0; hv_kinds[i]; i++) {
		const struct hv_kind *k = hv_kinds[i];
		int n;

		if (!k->option)
			continue;
		n = snprintf(kinds + len, sizeof(kinds) - len,
			     "  --%s %s\n                       %s%s\n",
			     k->option, k->usage, k->help,
			     k->max_instances > 1 ? " (repeatable)" : "");
		if (n < 0 || (size_t)n >= sizeof(kinds) - len)
			break;
		len += (size_t)n;
	}
	fprintf(f,
"Usage: pvkit-hv [OPTIONS]\n"
"Run one pvkit VM: guest RAM, the pvkit device, hypercalls, back-ends and\n"
"QEMU (KVM with vmx/svm, else TCG).\n"
"\n"
"  --name NAME          VM name ([A-Za-z0-9_.-], max 31; default vmN)\n"
"  --kernel FILE        guest kernel (required)\n"
"  --initrd FILE        initramfs\n"
"  --append ARGS        kernel command line\n"
"  --mem SIZE           guest RAM, e.g. 1G, 4096M (default 512M)\n"
"  --cpus N             vCPUs, 1..64 (default 1)\n"
"  --machine pc|q35     QEMU machine type (default pc)\n"
"  --accel kvm|tcg|auto accelerator (auto: kvm only with vmx/svm and\n"
"                       a usable /dev/kvm; default auto)\n"
"  --hugepages DIR      guest RAM file on hugetlbfs DIR (default /dev/shm)\n"
"  --console stdio|FILE serial console (default stdio)\n"
"%s"
"  --hotplug N          queues reserved for hot-added devices (default %d)\n"
"  --qemu-arg ARG       append ARG to the QEMU command line (repeatable)\n"
"  --no-testdev         no built-in test device\n"
"  --grace SEC          'pvkit stop' grace period (default 5)\n"
"  --qemu PATH          QEMU binary (default qemu-system-x86_64)\n"
"  --print-qemu-cmdline print the QEMU command line and exit\n"
"  -v, --verbose        debug messages\n"
"  -h, --help           this help\n"
"\n"
"Exit status: 0 guest powered off, 1 startup error, 2 QEMU died\n"
"abnormally, 3 stopped by a signal or 'pvkit stop'.\n",
		kinds, HV_DEFAULT_HOTPLUG);
}

void opts_defaults(struct hv_opts *o)
{
	const char *env;

	memset(o, 0, sizeof(*o));
	o->mem = HV_DEFAULT_MEM;
	o->cpus = 1;
	o->machine = "pc";
	o->accel = HV_ACCEL_AUTO;
	o->testdev = true;
	o->grace = HV_DEFAULT_GRACE;
	o->hotplug = HV_DEFAULT_HOTPLUG;
	o->qemu_bin = "qemu-system-x86_64";
	env = getenv("PVKIT_RUN_DIR");
	o->run_base = env && *env ? env : "/run/pvkit";
	env = getenv("PVKIT_SHM_DIR");
	o->shm_dir = env && *env ? env : "/dev/shm";
}

bool opts_name_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (!n || n >= HV_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '.'))
			return false;
	}
	return true;
}

int opts_parse_size(const char *s, uint64_t *out)
{
	return size_parse(s, out);
}

int opts_uint(const char *s, unsigned int min, unsigned int max,
		     unsigned int *out)
{
	unsigned long v;
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

enum {
	OPT_NAME = 256, OPT_KERNEL, OPT_INITRD, OPT_APPEND, OPT_MEM, OPT_CPUS,
	OPT_MACHINE, OPT_ACCEL, OPT_HUGEPAGES, OPT_CONSOLE,
	OPT_QEMU_ARG, OPT_NO_TESTDEV, OPT_GRACE, OPT_QEMU, OPT_PRINT,
	OPT_HOTPLUG,
	OPT_KIND,	/* + index in hv_kinds[] */
};

#define OPTS_MAX_KINDS	16

static const struct option opts_long[] = {
	{ "name", required_argument, NULL, OPT_NAME },
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "append", required_argument, NULL, OPT_APPEND },
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "machine", required_argument, NULL, OPT_MACHINE },
	{ "accel", required_argument, NULL, OPT_ACCEL },
	{ "hugepages", required_argument, NULL, OPT_HUGEPAGES },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "qemu-arg", required_argument, NULL, OPT_QEMU_ARG },
	{ "no-testdev", no_argument, NULL, OPT_NO_TESTDEV },
	{ "grace", required_argument, NULL, OPT_GRACE },
	{ "qemu", required_argument, NULL, OPT_QEMU },
	{ "print-qemu-cmdline", no_argument, NULL, OPT_PRINT },
	{ "hotplug", required_argument, NULL, OPT_HOTPLUG },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

#define BAD(...) do {						\
		fprintf(stderr, "pvkit-hv: " __VA_ARGS__);	\
		fputc('\n', stderr);				\
		return -EINVAL;					\
	} while (0)

/* The fixed options plus one per device kind (--disk, ...). */
static void opts_table(struct option *tab, size_t n)
{
	size_t i = 0, k;

	while (opts_long[i].name && i < n - 1) {
		tab[i] = opts_long[i];
		i++;
	}
	for (k = 0; hv_kinds[k] && k < OPTS_MAX_KINDS && i < n - 1; k++) {
		if (!hv_kinds[k]->option)
			continue;
		tab[i].name = hv_kinds[k]->option;
		tab[i].has_arg = required_argument;
		tab[i].flag = NULL;
		tab[i].val = OPT_KIND + (int)k;
		i++;
	}
	memset(&tab[i], 0, sizeof(tab[i]));
}

static int opts_add_dev(struct hv_opts *o, const struct hv_kind *k,
			const char *spec)
{
	struct hv_dev_opt *d = &o->devs[o->nr_devs];
	char err[256];

	if (o->nr_devs >= HV_MAX_DEVS)
		BAD("--%s '%s': at most %d devices", k->option, spec,
		    HV_MAX_DEVS);
	if (kind_parse(k, d, spec, err, sizeof(err)))
		BAD("--%s '%s': %s", k->option, spec, err);
	o->nr_devs++;
	return 0;
}

int opts_parse(struct hv_opts *o, int argc, char **argv)
{
	struct option tab[sizeof(opts_long) / sizeof(opts_long[0]) +
			  OPTS_MAX_KINDS];
	int c;

	opts_table(tab, sizeof(tab) / sizeof(tab[0]));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":vh", tab, NULL)) != -1) {
		if (c >= OPT_KIND && c < OPT_KIND + OPTS_MAX_KINDS) {
			if (opts_add_dev(o, hv_kinds[c - OPT_KIND], optarg))
				return -EINVAL;
			continue;
		}
		switch (c) {
		case OPT_NAME:
			if (!opts_name_valid(optarg))
				BAD("--name '%s': use 1..%d of [A-Za-z0-9_.-], not starting with '.' or '-'",
				    optarg, HV_NAME_MAX - 1);
			strcpy(o->name, optarg);
			o->name_given = true;
			break;
		case OPT_KERNEL:
			o->kernel = optarg;
			break;
		case OPT_INITRD:
			o->initrd = optarg;
			break;
		case OPT_APPEND:
			o->append = optarg;
			break;
		case OPT_MEM:
			if (opts_parse_size(optarg, &o->mem))
				BAD("--mem '%s': not a size (e.g. 512M, 1G)", optarg);
			if (o->mem < (32ULL << 20) || o->mem % (1ULL << 20) ||
			    o->mem > (1ULL << 40))
				BAD("--mem '%s': must be a whole number of MiB between 32M and 1T",
				    optarg);
			break;
		case OPT_CPUS:
			if (opts_uint(optarg, 1, HV_MAX_CPUS, &o->cpus))
				BAD("--cpus '%s': must be 1..%d", optarg, HV_MAX_CPUS);
			break;
		case OPT_MACHINE:
			if (strcmp(optarg, "pc") && strcmp(optarg, "q35"))
				BAD("--machine '%s': must be pc or q35", optarg);
			o->machine = optarg;
			break;
		case OPT_ACCEL:
			if (!strcmp(optarg, "kvm"))
				o->accel = HV_ACCEL_KVM;
			else if (!strcmp(optarg, "tcg"))
				o->accel = HV_ACCEL_TCG;
			else if (!strcmp(optarg, "auto"))
				o->accel = HV_ACCEL_AUTO;
			else
				BAD("--accel '%s': must be kvm, tcg or auto", optarg);
			break;
		case OPT_HUGEPAGES:
			if (access(optarg, W_OK | X_OK))
				BAD("--hugepages '%s': not a writable directory", optarg);
			o->hugepages = optarg;
			break;
		case OPT_CONSOLE:
			o->console = strcmp(optarg, "stdio") ? optarg : NULL;
			if (o->console && !*o->console)
				BAD("--console: empty file name");
			break;
		case OPT_QEMU_ARG:
			if (o->nr_qemu_args >= HV_MAX_QEMU_ARGS)
				BAD("--qemu-arg '%s': at most %d", optarg, HV_MAX_QEMU_ARGS);
			o->qemu_args[o->nr_qemu_args++] = optarg;
			break;
		case OPT_NO_TESTDEV:
			o->testdev = false;
			break;
		case OPT_GRACE:
			if (opts_uint(optarg, 0, 3600, &o->grace))
				BAD("--grace '%s': must be 0..3600 seconds", optarg);
			break;
		case OPT_QEMU:
			o->qemu_bin = optarg;
			break;
		case OPT_PRINT:
			o->print_cmdline = true;
			break;
		case OPT_HOTPLUG:
			if (opts_uint(optarg, 0, PVKIT_MAX_VECTORS, &o->hotplug))
				BAD("--hotplug '%s': must be 0..%d queues", optarg,
				    PVKIT_MAX_VECTORS);
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			opts_usage(stdout);
			return 1;
		case ':':
			BAD("option '%s' needs an argument", argv[optind - 1]);
		default:
			BAD("unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		BAD("unexpected argument '%s' (see --help)", argv[optind]);
	if (!o->kernel)
		BAD("--kernel is required");
	if (access(o->kernel, R_OK))
		BAD("--kernel '%s': %s", o->kernel, strerror(errno));
	if (o->initrd && access(o->initrd, R_OK))
		BAD("--initrd '%s': %s", o->initrd, strerror(errno));
	return 0;
}
