/*
 * test_interop.c: the C channel and a real Node.js process, both ways.
 *
 *   make test        (needs `node` on PATH; without it every test is skipped
 *                     with a message saying so)
 *
 *   C master, Node worker:   ./ipc node node-worker.js
 *   Node master, C worker:   node node-master.js            (fork with execPath)
 *                            node node-master.js --spawn    (spawn, 'ipc' stdio)
 *   byte-for-byte codec:     node tests/interop-echo.js echo|surrogate|oversized
 *   what JSON mode loses:    node tests/interop-echo.js losses
 *
 * If these pass, the wire format is Node's own: JSON text plus '\n' on fd 3,
 * announced by NODE_CHANNEL_FD.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testkit.h"

/* The full path of `node` found in PATH (testkit execs a path, it does not
 * search), or NULL. */
static char node[4096];

static const char *find_node(void)
{
    const char *path = getenv("PATH");
    if (path == NULL)
        return NULL;
    char *copy = strdup(path);
    int found = 0;
    for (char *dir = strtok(copy, ":"); dir != NULL && !found; dir = strtok(NULL, ":")) {
        snprintf(node, sizeof node, "%s/node", *dir ? dir : ".");
        found = access(node, X_OK) == 0;
    }
    free(copy);
    return found ? node : NULL;
}

static int have_node(void)
{
    return find_node() != NULL;
}

/* Group setup: say once why every test will be skipped; NEED_NODE() in
 * each test does the skipping. */
static int note_missing_node(void **state)
{
    (void)state;
    if (!have_node())
        printf("node is not on PATH: skipping the Node.js interop tests\n");
    return 0;
}

#define NEED_NODE()                                                                      \
    do {                                                                                 \
        if (!have_node()) {                                                              \
            printf("node is not on PATH: skipped\n");                                    \
            skip();                                                                      \
        }                                                                                \
    } while (0)

static int exited_with(int status, int code)
{
    return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == code;
}

static void test_c_master_node_worker(void **state)
{
    (void)state;
    NEED_NODE();
    tk_proc *p = tk_start((const char *[]){"./ipc", node, "node-worker.js", NULL}, NULL);
    assert_non_null(p);
    int status = tk_wait_exit(p, 20000);
    tk_drain(p);
    assert_true(exited_with(status, 0));
    int wpid = 0;
    const char *as = strstr(p->out, " as pid ");
    assert_non_null(as);
    assert_int_equal(sscanf(as, " as pid %d", &wpid), 1);
    char want[160];
    /* Node removed NODE_CHANNEL_FD from its environment, like ipc-worker. */
    snprintf(want, sizeof want, "[worker %d] node v", wpid);
    assert_non_null(strstr(p->out, want));
    assert_non_null(strstr(p->out, "NODE_CHANNEL_FD is now unset"));
    snprintf(want, sizeof want, "[worker %d] got message: \"some msg\"", wpid);
    assert_non_null(strstr(p->out, want));
    snprintf(
        want, sizeof want,
        "[master %d] got message: {\"name\":\"Bruce\",\"pid\":%d,\"echo\":\"some msg\"}",
        (int)p->pid, wpid);
    assert_non_null(strstr(p->out, want));
    assert_int_equal(tk_count_output(p, "] got message: {\"name\":\"Bruce\""), 2);
    /* Node's process.on('disconnect') ran, and then node exited by itself. */
    assert_non_null(strstr(p->out, "the master disconnected: exiting"));
    snprintf(want, sizeof want, "worker %d exited with code 0", wpid);
    assert_non_null(strstr(p->out, want));
    assert_int_equal(tk_count_group(p->pid), 0);
    tk_free(p);
}

static void node_master(const char *const argv[], const char *name)
{
    tk_proc *p = tk_start(argv, NULL);
    assert_non_null(p);
    int status = tk_wait_exit(p, 20000);
    tk_drain(p);
    if (!exited_with(status, 0))
        fail_msg("node master failed; output:\n%s", p->out);
    int wpid = 0;
    const char *as = strstr(p->out, " as pid ");
    assert_non_null(as);
    assert_int_equal(sscanf(as, " as pid %d", &wpid), 1);
    char want[200];
    snprintf(want, sizeof want,
             "[worker %d] channel on fd 3; NODE_CHANNEL_FD and "
             "NODE_CHANNEL_SERIALIZATION_MODE are now unset",
             wpid);
    assert_non_null(strstr(p->out, want));
    snprintf(want, sizeof want,
             "got message: {\"name\":\"%s\",\"pid\":%d,\"echo\":\"some msg\"}", name,
             wpid);
    assert_non_null(strstr(p->out, want));
    snprintf(want, sizeof want,
             "got message: {\"name\":\"%s\",\"pid\":%d,\"echo\":{\"greeting\":\"你好\","
             "\"list\":[1,2.5,true,null]}}",
             name, wpid);
    assert_non_null(strstr(p->out, want));
    snprintf(want, sizeof want, "worker %d exited with code 0", wpid);
    assert_non_null(strstr(p->out, want));
    assert_int_equal(tk_count_group(p->pid), 0);
    tk_free(p);
}

static void test_node_fork_c_worker(void **state)
{
    (void)state;
    NEED_NODE();
    node_master((const char *[]){node, "node-master.js", NULL}, "Alice");
}

static void test_node_spawn_c_worker(void **state)
{
    (void)state;
    NEED_NODE();
    node_master((const char *[]){node, "node-master.js", "--spawn", NULL}, "Bob");
}

static void test_echo_is_byte_identical(void **state)
{
    (void)state;
    NEED_NODE();
    tk_proc *p =
        tk_start((const char *[]){node, "tests/interop-echo.js", "echo", NULL}, NULL);
    assert_non_null(p);
    int status = tk_wait_exit(p, 30000);
    tk_drain(p);
    if (!exited_with(status, 0))
        fail_msg("interop-echo.js echo failed; output tail:\n%s",
                 p->out_len > 2000 ? p->out + p->out_len - 2000 : p->out);
    /* the reply lines themselves, as the C worker wrote them, not their
     * values after Node parsed them */
    assert_non_null(strstr(p->out, "28 reply lines byte-identical to JSON.stringify"));
    assert_non_null(strstr(p->out, "worker exited with code 0 after 28 replies"));
    tk_free(p);
}

static void test_lone_surrogate_from_node_is_dropped(void **state)
{
    (void)state;
    NEED_NODE();
    tk_proc *p = tk_start(
        (const char *[]){node, "tests/interop-echo.js", "surrogate", NULL}, NULL);
    assert_non_null(p);
    assert_true(exited_with(tk_wait_exit(p, 20000), 0));
    tk_drain(p);
    assert_non_null(strstr(p->out,
                           "malformed message at byte 1 of the line at stream byte "
                           "0: unpaired high surrogate"));
    assert_non_null(strstr(p->out, "worker exited with code 0 after 1 replies"));
    tk_free(p);
}

static void test_oversized_from_node_closes_the_channel(void **state)
{
    (void)state;
    NEED_NODE();
    tk_proc *p = tk_start(
        (const char *[]){node, "tests/interop-echo.js", "oversized", NULL}, NULL);
    assert_non_null(p);
    assert_true(exited_with(tk_wait_exit(p, 20000), 0));
    tk_drain(p);
    assert_non_null(strstr(p->out, "larger than the maximum of 1048576 bytes"));
    assert_non_null(strstr(p->out, "channel disconnected"));
    assert_non_null(strstr(p->out, "worker exited with code 1 after 0 replies"));
    tk_free(p);
}

/* The default (JSON) serialization loses what JSON cannot say, on its way
 * to any child: the C worker echoes what actually arrived. */
static void test_json_mode_losses(void **state)
{
    (void)state;
    NEED_NODE();
    tk_proc *p =
        tk_start((const char *[]){node, "tests/interop-echo.js", "losses", NULL}, NULL);
    assert_non_null(p);
    int status = tk_wait_exit(p, 20000);
    tk_drain(p);
    if (!exited_with(status, 0))
        fail_msg("interop-echo.js losses failed:\n%s", p->out);
    assert_non_null(strstr(p->out,
                           "the C worker received "
                           "{\"d\":\"1970-01-01T00:00:00.000Z\",\"n\":null,\"m\":{}}"));
    assert_non_null(
        strstr(p->out, "a BigInt: TypeError: Do not know how to serialize a BigInt"));
    assert_non_null(
        strstr(p->out, "a cycle: TypeError: Converting circular structure to JSON"));
    tk_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_c_master_node_worker),
        cmocka_unit_test(test_node_fork_c_worker),
        cmocka_unit_test(test_node_spawn_c_worker),
        cmocka_unit_test(test_echo_is_byte_identical),
        cmocka_unit_test(test_lone_surrogate_from_node_is_dropped),
        cmocka_unit_test(test_oversized_from_node_closes_the_channel),
        cmocka_unit_test(test_json_mode_losses),
    };
    return cmocka_run_group_tests(tests, note_missing_node, NULL);
}
