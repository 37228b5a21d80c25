/*
 * test_sandbox.c — the seccomp allow-lists of src/lib/sandbox.c. Each case forks, the
 * child installs a role's filter and makes one system call; a forbidden call must kill
 * the child with SIGSYS, an allowed one must let it exit 0 (open and openat are allowed
 * to fail with EACCES).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/sandbox.h"
#include "lib/util.h"

enum probe {
	PROBE_NOTHING,		/* event-loop work only: allowed */
	PROBE_MALLOC,		/* 64 MiB through malloc (mmap), touched, freed: allowed */
	PROBE_UNIX_PAIR,	/* socketpair(AF_UNIX): allowed in login */
	PROBE_MEMFD,		/* memfd_create + write + seal: allowed in lmtp */
	PROBE_SELF_SIGNAL,	/* kill(getpid(), 0): allowed */
	PROBE_SOCKET_INET,	/* socket(AF_INET): forbidden */
	PROBE_INET_PAIR,	/* socketpair(AF_INET6 …) is not the AF_UNIX rule: forbidden */
	PROBE_EXECVE,
	PROBE_OPEN,		/* openat of a file: fails with EACCES, the process lives */
	PROBE_MMAP_EXEC,	/* new executable memory: forbidden */
	PROBE_MPROTECT_EXEC,
	PROBE_KILL_OTHER,	/* a signal to another process (pid 1): forbidden */
	PROBE_PTRACE,
	PROBE_SETRLIMIT,
};

/* Runs in the child after the filter: returns normally only if the probe was allowed. */
static void
probe_run(enum probe p)
{
	static char *const argv[] = { "/bin/true", NULL };
	int sp[2];
	void *m;
	char *big;
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

	switch (p) {
	case PROBE_NOTHING:
		if (write(STDERR_FILENO, "", 0) < 0 || getpid() <= 0)
			_exit(3);
		break;
	case PROBE_MALLOC:
		if ((big = malloc(64u << 20)) == NULL)
			_exit(3);
		memset(big, 1, 64u << 20);
		free(big);
		break;
	case PROBE_UNIX_PAIR:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
			_exit(3);
		close(sp[0]);
		close(sp[1]);
		break;
	case PROBE_MEMFD: {
		int fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);

		if (fd < 0 || write(fd, "x", 1) != 1 ||
		    fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW) < 0)
			_exit(3);
		close(fd);
		break;
	}
	case PROBE_SELF_SIGNAL:
		if (kill(getpid(), 0) < 0)
			_exit(3);
		break;
	case PROBE_SOCKET_INET:
		(void)socket(AF_INET, SOCK_STREAM, 0);
		break;
	case PROBE_INET_PAIR:
		(void)socketpair(AF_INET6, SOCK_STREAM, 0, sp);
		break;
	case PROBE_EXECVE:
		(void)execve(argv[0], argv, NULL);
		break;
	case PROBE_OPEN:
		if (open("/etc/hostname", O_RDONLY) >= 0 || errno != EACCES ||
		    openat(AT_FDCWD, "/", O_RDONLY | O_DIRECTORY) >= 0 || errno != EACCES)
			_exit(3);
		break;
	case PROBE_MMAP_EXEC:
		m = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		(void)m;
		break;
	case PROBE_MPROTECT_EXEC:
		m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			_exit(3);
		(void)mprotect(m, 4096, PROT_READ | PROT_EXEC);
		break;
	case PROBE_KILL_OTHER:
		(void)kill(1, 0);
		break;
	case PROBE_PTRACE:
		(void)ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		break;
	case PROBE_SETRLIMIT:
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		break;
	}
}

/* Fork, apply role's filter, run the probe; returns the wait status of the child. */
static int
run_sandboxed(enum sandbox_role role, enum probe p)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (!sandbox_apply(role))
			_exit(4);
		probe_run(p);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void
test_allowed_and_forbidden(void **state)
{
	static const struct {
		enum sandbox_role role;
		enum probe probe;
		bool allowed;
	} cases[] = {
		{ SANDBOX_LOGIN, PROBE_NOTHING, true },
		{ SANDBOX_LMTP, PROBE_NOTHING, true },
		{ SANDBOX_LOGIN, PROBE_MALLOC, true },
		{ SANDBOX_LMTP, PROBE_MALLOC, true },
		{ SANDBOX_LOGIN, PROBE_UNIX_PAIR, true },
		{ SANDBOX_LMTP, PROBE_MEMFD, true },
		{ SANDBOX_LOGIN, PROBE_SELF_SIGNAL, true },
		{ SANDBOX_LOGIN, PROBE_SOCKET_INET, false },
		{ SANDBOX_LMTP, PROBE_SOCKET_INET, false },
		{ SANDBOX_LOGIN, PROBE_INET_PAIR, false },
		{ SANDBOX_LMTP, PROBE_UNIX_PAIR, false },
		{ SANDBOX_LOGIN, PROBE_MEMFD, false },
		{ SANDBOX_LOGIN, PROBE_EXECVE, false },
		{ SANDBOX_LMTP, PROBE_EXECVE, false },
		{ SANDBOX_LOGIN, PROBE_OPEN, true },
		{ SANDBOX_LMTP, PROBE_OPEN, true },
		{ SANDBOX_LOGIN, PROBE_MMAP_EXEC, false },
		{ SANDBOX_LOGIN, PROBE_MPROTECT_EXEC, false },
		{ SANDBOX_LMTP, PROBE_MPROTECT_EXEC, false },
		{ SANDBOX_LOGIN, PROBE_KILL_OTHER, false },
		{ SANDBOX_LOGIN, PROBE_PTRACE, false },
		{ SANDBOX_LOGIN, PROBE_SETRLIMIT, false },
	};

	if (SANDBOX_ASAN)
		skip();
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		int st = run_sandboxed(cases[i].role, cases[i].probe);

		if (cases[i].allowed) {
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
				fail_msg("case %zu (%s, probe %d): want exit 0, got status %#x", i,
				    sandbox_role_name(cases[i].role), cases[i].probe, st);
		} else if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS) {
			fail_msg("case %zu (%s, probe %d): want SIGSYS, got status %#x", i,
			    sandbox_role_name(cases[i].role), cases[i].probe, st);
		}
	}
}

/* abort() (what panic() does) must still end the process with SIGABRT, not SIGSYS. */
static void
test_abort_is_sigabrt(void **state)
{
	int status;
	pid_t pid;
	struct rlimit core = { 0, 0 };

	if (SANDBOX_ASAN)
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		(void)setrlimit(RLIMIT_CORE, &core);
		(void)sandbox_apply(SANDBOX_LOGIN);
		abort();
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowed_and_forbidden),
		cmocka_unit_test(test_abort_is_sigabrt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
