// SPDX-License-Identifier: GPL-2.0-only
/* Host-side logging to stderr with a per-program, per-VM prefix. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <pvkit-host/log.h>

static char log_prefix[96] = "pvkit";
static enum log_level log_level = LOG_LVL_INFO;

void log_set_prefix(const char *prog, const char *name)
{
	if (name && *name)
		snprintf(log_prefix, sizeof(log_prefix), "%s[%s]", prog, name);
	else
		snprintf(log_prefix, sizeof(log_prefix), "%s", prog);
}

void log_set_level(enum log_level lvl)
{
	log_level = lvl;
}

bool log_enabled(enum log_level lvl)
{
	return lvl <= log_level;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *const tag[] = {
		[LOG_LVL_ERR] = "error: ",
		[LOG_LVL_WARN] = "warning: ",
		[LOG_LVL_INFO] = "",
		[LOG_LVL_DEBUG] = "debug: ",
	};
	char buf[1024];
	va_list ap;
	int n;

	if (!log_enabled(lvl))
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* one write per line so lines of several processes do not mix */
	fprintf(stderr, "%s: %s%s\n", log_prefix, tag[lvl], buf);
}

unsigned int log_sanitize(char *dst, unsigned int dst_size,
			  const void *src, unsigned int len)
{
	const unsigned char *s = src;
	unsigned int i, n = 0;

	if (!dst_size)
		return 0;
	for (i = 0; i < len && n + 1 < dst_size; i++) {
		unsigned char c = s[i];

		if (c == '\0')
			break;
		dst[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '.';
	}
	/* a trailing newline is the line end, not content */
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	dst[n] = '\0';
	return n;
}

bool log_ratelimit(struct log_ratelimit *rl, uint64_t now_ms,
		   uint64_t *missed)
{
	/* the first call, or a new interval: start counting again */
	if (!rl->begin_ms || now_ms - rl->begin_ms >= rl->interval_ms) {
		rl->begin_ms = now_ms ? now_ms : 1;
		rl->printed = 0;
	}
	if (rl->printed >= rl->burst) {
		rl->missed++;
		return false;
	}
	rl->printed++;
	if (missed)
		*missed = rl->missed;
	rl->missed = 0;
	return true;
}

bool log_ratelimit_now(struct log_ratelimit *rl, uint64_t *missed)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return log_ratelimit(rl, (uint64_t)ts.tv_sec * 1000 +
			     (uint64_t)ts.tv_nsec / 1000000, missed);
}
