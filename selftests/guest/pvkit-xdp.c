// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit-xdp: attach the test XDP programs (pvkit_xdp.bpf.c) to a netdev
 * in native (driver) mode, so what is tested is the driver's XDP and not
 * the generic fallback, and report what they counted.
 *
 *   pvkit-xdp run IFACE PROG [--expect N] [--timeout S] [--ready TEXT]
 *	attach PROG (pass, drop, tx, redirect), print TEXT on stderr once
 *	attached (the host's cue to send, on the console), wait until N test frames were counted
 *	or S seconds (default 30) passed, print the counts, detach
 *   pvkit-xdp flap IFACE PROG CYCLES MS
 *	attach and detach PROG CYCLES times, MS milliseconds attached and
 *	MS / 2 detached each time, then print the counts
 *
 * Output: "PVKIT-XDP: prog=P matched=N frames=M"; exit 0, or 1 with a
 * reason on stderr.  The object is /usr/lib/pvkit/pvkit_xdp.bpf.o
 * (PVKIT_XDP_OBJ overrides it).
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#define XDP_OBJ		"/usr/lib/pvkit/pvkit_xdp.bpf.o"

struct xdp_test {
	struct bpf_object *obj;
	int prog_fd, counts_fd;
	unsigned int ifindex;
	const char *prog;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: pvkit-xdp run IFACE PROG [--expect N] [--timeout S] [--ready TEXT]\n"
		"       pvkit-xdp flap IFACE PROG CYCLES MS\n"
		"PROG: pass, drop, tx or redirect\n");
	exit(2);
}

static int xdp_open(struct xdp_test *t, const char *ifname, const char *prog)
{
	const char *path = getenv("PVKIT_XDP_OBJ") ?: XDP_OBJ;
	struct bpf_program *p;
	struct bpf_map *out;
	char name[32];
	__u32 key = 0;
	int err, out_fd;

	t->prog = prog;
	t->ifindex = if_nametoindex(ifname);
	if (!t->ifindex) {
		fprintf(stderr, "pvkit-xdp: no interface %s\n", ifname);
		return -ENODEV;
	}
	t->obj = bpf_object__open_file(path, NULL);
	if (!t->obj) {
		err = -errno;
		fprintf(stderr, "pvkit-xdp: %s: %s\n", path, strerror(-err));
		return err;
	}
	snprintf(name, sizeof(name), "xdp_%s", prog);
	p = bpf_object__find_program_by_name(t->obj, name);
	if (!p) {
		fprintf(stderr, "pvkit-xdp: no program %s in %s\n", name, path);
		return -ENOENT;
	}
	/* load only the one asked for */
	bpf_object__for_each_program(p, t->obj)
		bpf_program__set_autoload(p, !strcmp(bpf_program__name(p),
						     name));
	err = bpf_object__load(t->obj);
	if (err) {
		fprintf(stderr, "pvkit-xdp: loading %s: %s\n", name,
			strerror(-err));
		return err;
	}
	t->prog_fd = bpf_program__fd(bpf_object__find_program_by_name(t->obj,
								       name));
	t->counts_fd = bpf_object__find_map_fd_by_name(t->obj, "counts");
	out = bpf_object__find_map_by_name(t->obj, "out");
	out_fd = out ? bpf_map__fd(out) : -1;
	if (t->prog_fd < 0 || t->counts_fd < 0 || out_fd < 0) {
		fprintf(stderr, "pvkit-xdp: %s lacks its maps\n", path);
		return -EINVAL;
	}
	/* xdp_redirect sends the frame back out of the device itself */
	err = bpf_map_update_elem(out_fd, &key, &t->ifindex, BPF_ANY);
	if (err) {
		fprintf(stderr, "pvkit-xdp: devmap: %s\n", strerror(errno));
		return -errno;
	}
	return 0;
}

static int xdp_attach(struct xdp_test *t)
{
	int err = bpf_xdp_attach(t->ifindex, t->prog_fd, XDP_FLAGS_DRV_MODE,
				 NULL);

	if (err)
		fprintf(stderr, "pvkit-xdp: native attach: %s\n",
			strerror(-err));
	return err;
}

static int xdp_detach(struct xdp_test *t)
{
	int err = bpf_xdp_detach(t->ifindex, XDP_FLAGS_DRV_MODE, NULL);

	if (err)
		fprintf(stderr, "pvkit-xdp: detach: %s\n", strerror(-err));
	return err;
}

/* counts[@key] summed over the CPUs */
static unsigned long long xdp_count(struct xdp_test *t, __u32 key)
{
	int ncpu = libbpf_num_possible_cpus();
	unsigned long long sum = 0;
	__u64 *v;
	int i;

	if (ncpu <= 0)
		return 0;
	v = calloc(ncpu, sizeof(*v));
	if (v && !bpf_map_lookup_elem(t->counts_fd, &key, v))
		for (i = 0; i < ncpu; i++)
			sum += v[i];
	free(v);
	return sum;
}

static void xdp_report(struct xdp_test *t)
{
	printf("PVKIT-XDP: prog=%s matched=%llu frames=%llu\n", t->prog,
	       xdp_count(t, 0), xdp_count(t, 1));
	fflush(stdout);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmd_run(struct xdp_test *t, int argc, char **argv)
{
	unsigned long long expect = 0;
	const char *ready = NULL;
	double timeout = 30, end;
	int i, err;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--expect") && i + 1 < argc)
			expect = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
			timeout = strtod(argv[++i], NULL);
		else if (!strcmp(argv[i], "--ready") && i + 1 < argc)
			ready = argv[++i];
		else
			usage();
	}
	if (timeout <= 0 || timeout > 600) {
		fprintf(stderr, "pvkit-xdp: timeout out of 0..600 s\n");
		return 1;
	}
	if (xdp_attach(t))
		return 1;
	if (ready)
		fprintf(stderr, "%s\n", ready);
	end = now() + timeout;
	while (now() < end && (!expect || xdp_count(t, 0) < expect))
		usleep(20000);
	/* a frame still in flight when the count was reached: let it land */
	usleep(200000);
	xdp_report(t);
	err = xdp_detach(t);
	return err || (expect && xdp_count(t, 0) < expect);
}

static int cmd_flap(struct xdp_test *t, int argc, char **argv)
{
	long cycles, ms, i;

	if (argc != 2)
		usage();
	cycles = strtol(argv[0], NULL, 0);
	ms = strtol(argv[1], NULL, 0);
	if (cycles < 1 || cycles > 10000 || ms < 1 || ms > 60000) {
		fprintf(stderr, "pvkit-xdp: CYCLES 1..10000, MS 1..60000\n");
		return 1;
	}
	for (i = 0; i < cycles; i++) {
		if (xdp_attach(t))
			return 1;
		usleep(ms * 1000);
		if (xdp_detach(t))
			return 1;
		usleep(ms * 500);
	}
	printf("PVKIT-XDP-FLAP: cycles=%ld\n", cycles);
	xdp_report(t);
	return 0;
}

int main(int argc, char **argv)
{
	struct xdp_test t = {};
	int rc;

	if (argc < 4)
		usage();
	if (strcmp(argv[1], "run") && strcmp(argv[1], "flap"))
		usage();
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	if (xdp_open(&t, argv[2], argv[3]))
		return 1;
	if (!strcmp(argv[1], "run"))
		rc = cmd_run(&t, argc - 4, argv + 4);
	else
		rc = cmd_flap(&t, argc - 4, argv + 4);
	bpf_object__close(t.obj);
	return rc;
}
