// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: pvkit-hv control socket and its JSON parser fed garbage:
 * random bytes, truncated and deeply nested JSON, wrong types, unknown
 * commands, over-long lines, many clients; every bad request gets an
 * {"ok":false,...} reply (or the client is dropped) and the server keeps
 * answering good ones.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <unistd.h>

#include <pvkit-host/ctlclient.h>
#include <pvkit-host/json.h>

#include "kselftest_harness.h"

#include "hv_common.h"
#include "../../hypervisor/include/ctl.h"

FIXTURE(ctl)
{
	struct hv *hv;
	struct ctl ctl;
	char base[64];
	char dir[96];
	char path[108];
};

FIXTURE_SETUP(ctl)
{
	self->hv = calloc(1, sizeof(*self->hv));
	ASSERT_NE(NULL, self->hv);
	ASSERT_EQ(0, hvt_init(self->hv, 2, true, true));
	strcpy(self->base, "/tmp/hv_ctl.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->base));
	snprintf(self->dir, sizeof(self->dir), "%s/hvtest", self->base);
	ASSERT_EQ(0, mkdir(self->dir, 0700));
	snprintf(self->path, sizeof(self->path), "%s/ctl.sock", self->dir);
	ASSERT_EQ(0, ctl_init(self->hv, &self->ctl, self->path));
}

FIXTURE_TEARDOWN(ctl)
{
	ctl_exit(self->hv, &self->ctl);
	hvt_exit(self->hv);
	free(self->hv);
	rmdir(self->dir);
	rmdir(self->base);
}

/* Reply to one request through ctl_handle(); "ok" member or -1. */
static int handle(struct hv *hv, const char *req, size_t len, char **reply)
{
	struct json *j = NULL;
	const struct json *ok;
	struct jbuf jb;
	int ret;

	jb_init(&jb);
	ret = ctl_handle(hv, req, len, &jb, NULL);
	if (ret) {
		jb_free(&jb);
		return 2;
	}
	if (json_parse(jb.buf, jb.len, &j)) {
		jb_free(&jb);
		return -1;
	}
	ok = json_get(j, "ok");
	ret = ok && ok->type == JSON_BOOL ? ok->b : -1;
	json_free(j);
	if (reply)
		*reply = jb.buf;
	else
		jb_free(&jb);
	return ret;
}

TEST_F(ctl, good_requests)
{
	char *r = NULL;

	EXPECT_EQ(1, handle(self->hv, "{\"cmd\":\"list-info\"}", 19, &r));
	EXPECT_NE(NULL, strstr(r, "\"name\":\"hvtest\""));
	EXPECT_NE(NULL, strstr(r, "\"cpus\":2"));
	free(r);
	EXPECT_EQ(1, handle(self->hv, " {\"cmd\" : \"stat\"} ", 18, &r));
	EXPECT_NE(NULL, strstr(r, "\"type\":\"test\""));
	EXPECT_NE(NULL, strstr(r, "\"state\":\"offered\""));
	EXPECT_NE(NULL, strstr(r, "\"hypercalls\":{"));
	free(r);
}

TEST_F(ctl, bad_requests)
{
	static const char *const bad[] = {
		"", " ", "{", "}", "[]", "null", "42", "\"stat\"", "stat",
		"{\"cmd\":}", "{\"cmd\":\"stat\"", "{\"cmd\":\"stat\"}}",
		"{\"cmd\":42}", "{\"cmd\":null}", "{\"cmd\":[\"stat\"]}",
		"{\"cmd\":\"STAT\"}", "{\"cmd\":\"nope\"}", "{\"c\":\"stat\"}",
		"{\"cmd\":\"stat\",}", "{,}", "{\"cmd\":\"st\\u0000at\"}",
		"{\"cmd\":\"\\x\"}", "{\"cmd\":\"\\u12\"}", "{\"cmd\":\"a\\",
		"{\"cmd\":\"stop\",\"grace\":-1}", "{\"cmd\":\"stop\",\"grace\":1e99}",
		"{\"cmd\":\"stop\",\"grace\":\"x\"}", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
		"{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{}}}}}}}}}}}}}}}}}}",
		"-", "1e", "tru", "nul", "\"\x01\"",
	};
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(0, handle(self->hv, bad[i], strlen(bad[i]), NULL))
			TH_LOG("bad request #%u", i);
	/* "stop" without QEMU fails cleanly (and asks the loop to quit) */
	EXPECT_EQ(0, handle(self->hv, "{\"cmd\":\"stop\"}", 14, NULL));
	EXPECT_TRUE(self->hv->quit);
}

TEST_F(ctl, random_bytes)
{
	uint64_t s = 4242;
	char buf[512];
	unsigned int k, i, n;

	for (k = 0; k < 100000; k++) {
		static const char alphabet[] = "{}[]\":,\\ ntrufalse0123456789.-+eE cmdstatlistinfo";

		n = (unsigned int)(hvt_rand(&s) % sizeof(buf));
		for (i = 0; i < n; i++) {
			uint64_t r = hvt_rand(&s);

			buf[i] = (r & 1) ? (char)(r >> 8)
					 : alphabet[(r >> 8) % (sizeof(alphabet) - 1)];
		}
		ASSERT_NE(-1, handle(self->hv, buf, n, NULL));
	}
}

static ssize_t read_reply(struct hv *hv, int fd, char *buf, size_t len)
{
	ssize_t n;

	hvt_pump(hv, 10);
	n = recv(fd, buf, len - 1, MSG_DONTWAIT);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

TEST_F(ctl, socket)
{
	char buf[8192], big[CTL_LINE_MAX + 100];
	int fd, fds[CTL_MAX_CLIENTS + 4];
	unsigned int i;

	/* garbage line, then a good one on the same connection */
	fd = unix_connect(self->path);
	ASSERT_LE(0, fd);
	ASSERT_EQ(6, write(fd, "\x01\xff}{\"\n", 6));
	ASSERT_LT(0, read_reply(self->hv, fd, buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, "\"ok\":false"));
	ASSERT_EQ(20, write(fd, "{\"cmd\":\"list-info\"}\n", 20));
	ASSERT_LT(0, read_reply(self->hv, fd, buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, "\"ok\":true"));
	/* a request split over several writes */
	ASSERT_EQ(5, write(fd, "{\"cmd", 5));
	hvt_pump(self->hv, 10);
	ASSERT_EQ(10, write(fd, "\":\"stat\"}\n", 10));
	ASSERT_LT(0, read_reply(self->hv, fd, buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, "\"devices\""));
	/* an over-long line: error, then the connection is dropped */
	memset(big, 'x', sizeof(big));
	ASSERT_EQ((ssize_t)sizeof(big), write(fd, big, sizeof(big)));
	hvt_pump(self->hv, 10);
	ASSERT_LT(0, read_reply(self->hv, fd, buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, "too long"));
	/* then EOF (or a reset: the rest of the line was never read) */
	EXPECT_GE(0, read_reply(self->hv, fd, buf, sizeof(buf)));
	close(fd);

	/* more clients than slots: extras are closed, the server lives */
	for (i = 0; i < CTL_MAX_CLIENTS + 4; i++) {
		fds[i] = unix_connect(self->path);
		ASSERT_LE(0, fds[i]);
		hvt_pump(self->hv, 10);	/* keep the listen backlog short */
	}
	hvt_pump(self->hv, 10);
	for (i = 0; i < CTL_MAX_CLIENTS + 4; i++)
		close(fds[i]);
	hvt_pump(self->hv, 10);

	/* the library client end to end */
	{
		char *reply = NULL;
		int ret;

		/* ctlc_request blocks: serve from a child */
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (!pid) {
			for (i = 0; i < 50; i++)
				ev_run_once(self->hv, 10);
			_exit(0);
		}
		ret = ctlc_request(self->base, "hvtest", "{\"cmd\":\"list-info\"}",
				   &reply, 2000);
		EXPECT_EQ(0, ret);
		EXPECT_NE(NULL, reply ? strstr(reply, "\"pid\":") : NULL);
		free(reply);
		waitpid(pid, NULL, 0);
		EXPECT_EQ(-ENOENT, ctlc_request(self->base, "nope", "{}", &reply, 100));
		EXPECT_EQ(-EINVAL, ctlc_request(self->base, "a/b", "{}", &reply, 100));
	}
}

TEST(json_roundtrip)
{
	struct json *j = NULL;
	struct jbuf jb;

	jb_init(&jb);
	jb_obj_begin(&jb);
	jb_str(&jb, "s", "a\"b\\c\n\x01\xff");
	jb_u64(&jb, "u", UINT64_MAX);
	jb_i64(&jb, "i", -5);
	jb_bool(&jb, "b", true);
	jb_key(&jb, "a");
	jb_arr_begin(&jb);
	jb_u64(&jb, NULL, 1);
	jb_u64(&jb, NULL, 2);
	jb_arr_end(&jb);
	jb_obj_end(&jb);
	ASSERT_EQ(0, jb.err);
	ASSERT_EQ(0, json_parse(jb.buf, jb.len, &j));
	EXPECT_STREQ("a\"b\\c\n\x01?", json_get_str(j, "s"));
	EXPECT_EQ(-5, json_get_num(j, "i", 0));
	EXPECT_EQ(2, json_get(j, "a")->child->next->num);
	json_free(j);
	jb_free(&jb);
}

/* A NUL byte is never part of a number (nor anything else). */
TEST(json_nul_bytes)
{
	static const char *const bad[] = {
		"{\"a\":1\0}", "{\"a\":1\0 }", "[1\0,2]", "{\"a\":\"x\0\"}",
		"{\"a\":-\0}",
	};
	static const size_t len[] = { 8, 9, 7, 10, 8 };
	struct json *j;
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = NULL;
		EXPECT_NE(0, json_parse(bad[i], len[i], &j)) TH_LOG("case %u", i);
		json_free(j);
	}
}

TEST_HARNESS_MAIN
