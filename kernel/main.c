/*
 * main.c — bin/mgv-kernel: a Jupyter kernel for Lua with the mgv engine.
 *
 *   mgv-kernel -f CONNECTION_FILE     run (what the kernelspec's argv says)
 *   mgv-kernel CONNECTION_FILE        the same
 *   mgv-kernel install [--user | --prefix DIR] [--name NAME] [--interrupt-mode signal|message]
 *                      [--display-name TEXT] [--executable PATH]
 *   mgv-kernel --version | --help
 *
 * Start-up: read the connection file, bind the five sockets (a port of 0
 * gets a free one, written back to the file), start the heartbeat, control
 * and output threads with SIGINT blocked in them, publish `starting`, open
 * the Lua state, then serve the shell socket until a shutdown_request
 * (or until the front end that started the kernel is gone).
 */
#include "kernel.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lua.h>
#include <zmq.h>

#include "core/error.h"
#include "core/simd.h"
#include "lmgv.h"

/* Bytes in one inbound frame; a peer sending a larger one is disconnected by
 * ZeroMQ before the frame is buffered. Shell carries cells (large code is
 * fine); stdin only input replies; IOPub receives nothing but subscriptions
 * (a topic, usually empty), which ZeroMQ keeps in a trie at ~30 bytes per
 * topic byte, so a long one would cost memory. */
#define MAX_MSG (256LL << 20)
static const int64_t max_msg[K_NSOCK] = {
    [K_SHELL] = MAX_MSG, [K_IOPUB] = 1024, [K_STDIN] = 16 << 20,
    [K_CONTROL] = MAX_MSG, [K_HB] = 1 << 20};

static void *wake_main;   /* main's end of the inproc wake-up pair */

static pid_t parent_pid;   /* JPY_PARENT_PID: the front end that started us */

/* Echoes every ping (all its frames) on the heartbeat REP socket. Between
 * pings (every second) it checks that the front end which started the
 * kernel still lives (JPY_PARENT_PID, as ipykernel): an orphaned kernel
 * exits instead of lingering. */
static void *heartbeat(void *arg)
{
    (void)arg;
    enum { MAX_PARTS = 16 };
    for (;;) {
        zmq_pollitem_t it = {ks.hb.z, 0, ZMQ_POLLIN, 0};
        int ready = zmq_poll(&it, 1, 1000);
        if (ready < 0 && errno == ETERM) break;
        if (ready <= 0) {
            if (parent_pid > 1 && getppid() != parent_pid) {
                klog("the front end (pid %d) is gone: exiting", (int)parent_pid);
                _exit(1);
            }
            continue;
        }
        zmq_msg_t parts[MAX_PARTS];
        int n = 0, more = 1, fail = 0;
        while (more) {
            zmq_msg_t *p = &parts[n < MAX_PARTS ? n : MAX_PARTS - 1];
            if (n >= MAX_PARTS) zmq_msg_close(p);   /* keep the first 15 and the last */
            zmq_msg_init(p);
            if (zmq_msg_recv(p, ks.hb.z, 0) < 0) {
                zmq_msg_close(p);
                fail = errno;
                break;
            }
            more = zmq_msg_more(p);
            if (n < MAX_PARTS) n++;
        }
        if (fail) {
            for (int i = 0; i < n; i++) zmq_msg_close(&parts[i]);
            if (fail == ETERM) break;
            continue;
        }
        for (int i = 0; i < n; i++)
            if (zmq_msg_send(&parts[i], ks.hb.z, i < n - 1 ? ZMQ_SNDMORE : 0) < 0)
                zmq_msg_close(&parts[i]);
    }
    zmq_close(ks.hb.z);
    return NULL;
}

/* Serves the control socket until shutdown. */
static void *control(void *arg)
{
    (void)arg;
    for (;;) {
        kmsg m;
        int rc = kmsg_recv(&ks.control, &m, 0);
        if (rc < 0) {
            if (errno == ETERM) break;
            continue;
        }
        if (rc == 0) continue;
        int stop = khandle_control(&m);
        kmsg_free(&m);
        if (stop) break;
    }
    zmq_close(ks.control.z);
    zmq_close(ks.wake);
    ks.wake = NULL;
    return NULL;
}

static int open_socket(ksock *s, int type, const char *name, kconn *c, int which)
{
    s->z = zmq_socket(ks.ctx, type);
    s->name = name;
    if (!s->z) return mgv_fail("%s socket: %s", name, zmq_strerror(errno));
    int linger = 1000;
    int64_t max = max_msg[which];
    zmq_setsockopt(s->z, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s->z, ZMQ_MAXMSGSIZE, &max, sizeof max);
    if (type == ZMQ_ROUTER) {
        /* A front end that reconnects keeps its identity (jupyter_client
         * reuses its session id). Without hand-over, ZeroMQ refuses the new
         * connection while the old one is not yet reaped, which happens only
         * when the kernel next uses the socket: a reply (or input_request)
         * sent meanwhile would go nowhere, and a cell waiting for input
         * would wait for ever. */
        int handover = 1;
        zmq_setsockopt(s->z, ZMQ_ROUTER_HANDOVER, &handover, sizeof handover);
    }
    if (which == K_STDIN) {
        /* stdin carries one reply at a time: a short queue pushes back on a
         * peer that floods it (TCP flow control) instead of buffering up to
         * 1000 messages of up to max_msg bytes in the kernel while the main
         * loop, busy or descheduled, has not yet drained them */
        int hwm = 4;
        zmq_setsockopt(s->z, ZMQ_RCVHWM, &hwm, sizeof hwm);
    }
    char ep[600];
    kconn_endpoint(c, which, ep, sizeof ep);
    if (zmq_bind(s->z, ep) != 0) return mgv_fail("cannot bind the %s socket to %s: %s", name, ep, zmq_strerror(errno));
    if (c->port[which] == 0 && strcmp(c->transport, "tcp") == 0) {
        char last[600];
        size_t n = sizeof last;
        zmq_getsockopt(s->z, ZMQ_LAST_ENDPOINT, last, &n);
        const char *colon = strrchr(last, ':');
        c->port[which] = colon ? atoi(colon + 1) : 0;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mgv-kernel [-f] CONNECTION_FILE      run the kernel (Jupyter starts it so)\n"
            "       mgv-kernel install [--user | --prefix DIR] [--name NAME]\n"
            "                          [--display-name TEXT] [--interrupt-mode message|signal]\n"
            "                          [--executable PATH]\n"
            "                                            install the kernelspec 'mgv'\n"
            "       mgv-kernel --version\n");
}

int main(int argc, char **argv)
{
    if (mgv_simd_init() != 0) {   /* a path this CPU lacks: say so rather than run another */
        fprintf(stderr, "mgv-kernel: %s\n", mgv_last_error());
        return 2;
    }
    if (argc >= 2 && strcmp(argv[1], "install") == 0) return kinstall_main(argc - 1, argv + 1);
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-f") == 0 && i + 1 < argc) file = argv[++i];
        else if (strncmp(argv[i], "--connection-file=", 18) == 0) file = argv[i] + 18;
        else if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-v") == 0) {
            printf("mgv-kernel %s (%s, Jupyter protocol %s)\n", LMGV_VERSION, LUA_RELEASE, KERNEL_PROTOCOL);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] != '-' && !file) file = argv[i];
        else {
            fprintf(stderr, "mgv-kernel: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!file) {
        usage(stderr);
        return 2;
    }
    klog_init();
    kconn conn;
    if (kconn_load(file, &conn) != 0 || ksign_init(conn.scheme, conn.key) != 0) {
        klog("%s", mgv_last_error());
        kconn_free(&conn);
        return 1;
    }
    const char *ppid = getenv("JPY_PARENT_PID");
    if (ppid && atoi(ppid) > 1 && atoi(ppid) == (int)getppid()) parent_pid = (pid_t)atoi(ppid);
    int any_zero = 0;
    for (int i = 0; i < K_NSOCK; i++) any_zero |= conn.port[i] == 0;

    /* threads started from here on inherit a blocked SIGINT */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    signal(SIGPIPE, SIG_IGN);

    static pthread_mutex_t iopub_lock = PTHREAD_MUTEX_INITIALIZER;
    ks.ctx = zmq_ctx_new();
    ks.main_thread = pthread_self();
    ks.iopub.lock = &iopub_lock;
    ks.iopub.pub = 1;
    int ok = ks.ctx && open_socket(&ks.shell, ZMQ_ROUTER, "shell", &conn, K_SHELL) == 0 &&
             open_socket(&ks.iopub, ZMQ_PUB, "iopub", &conn, K_IOPUB) == 0 &&
             open_socket(&ks.stdin_, ZMQ_ROUTER, "stdin", &conn, K_STDIN) == 0 &&
             open_socket(&ks.control, ZMQ_ROUTER, "control", &conn, K_CONTROL) == 0 &&
             open_socket(&ks.hb, ZMQ_REP, "heartbeat", &conn, K_HB) == 0;
    if (ok) {
        wake_main = zmq_socket(ks.ctx, ZMQ_PAIR);
        ks.wake = zmq_socket(ks.ctx, ZMQ_PAIR);
        ok = wake_main && ks.wake && zmq_bind(wake_main, "inproc://mgv-wake") == 0 &&
             zmq_connect(ks.wake, "inproc://mgv-wake") == 0;
        if (!ok) mgv_fail("cannot make the wake-up pair: %s", zmq_strerror(errno));
    }
    if (ok && any_zero && kconn_save(&conn, file) != 0) ok = 0;
    if (!ok) {
        klog("%s", mgv_last_error());
        return 1;   /* the process ends: no clean-up of half-made sockets */
    }
    kio_init(&ks.iopub);
    pthread_t hb_thread, ctl_thread;
    int hb_ok = pthread_create(&hb_thread, NULL, heartbeat, NULL) == 0;
    int ctl_ok = pthread_create(&ctl_thread, NULL, control, NULL) == 0;
    if (!hb_ok || !ctl_ok) klog("cannot start the heartbeat or control thread");
    if (!hb_ok) zmq_close(ks.hb.z);
    if (!ctl_ok) {
        zmq_close(ks.control.z);
        zmq_close(ks.wake);
        ks.wake = NULL;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = khost_on_sigint;   /* no SA_RESTART: a waiting read returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    sigprocmask(SIG_UNBLOCK, &set, NULL);

    kio_status(NULL, "starting");
    if (khost_init(&ks.stdin_) != 0) {
        klog("%s", mgv_last_error());
        ks.shutdown = 1;
    }

    /* Between cells nothing waits for input: whatever arrives on stdin then
     * is stale or hostile and is read and dropped at once, so that it does
     * not pile up in ZeroMQ's queue (up to 1000 messages per peer). */
    while (!ks.shutdown) {
        zmq_pollitem_t items[3] = {{ks.shell.z, 0, ZMQ_POLLIN, 0}, {wake_main, 0, ZMQ_POLLIN, 0},
                                   {ks.stdin_.z, 0, ZMQ_POLLIN, 0}};
        int rc = zmq_poll(items, 3, -1);
        if (rc < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (items[1].revents & ZMQ_POLLIN) break;
        if (items[2].revents & ZMQ_POLLIN) {
            kmsg m;
            for (int i = 0; i < 64 && (rc = kmsg_recv(&ks.stdin_, &m, ZMQ_DONTWAIT)) >= 0; i++)
                if (rc == 1) kmsg_free(&m);
        }
        if (items[0].revents & ZMQ_POLLIN) {
            kmsg m;
            if (kmsg_recv(&ks.shell, &m, ZMQ_DONTWAIT) == 1) {
                khandle_shell(&m);
                kmsg_free(&m);
            }
        }
    }

    /* shutdown: Lua first (its __gc may still print), then the threads */
    khost_close();
    kio_stop();
    zmq_ctx_shutdown(ks.ctx);
    if (hb_ok) pthread_join(hb_thread, NULL);
    if (ctl_ok) pthread_join(ctl_thread, NULL);
    zmq_close(ks.shell.z);
    zmq_close(ks.iopub.z);
    zmq_close(ks.stdin_.z);
    zmq_close(wake_main);
    zmq_ctx_term(ks.ctx);
    khandlers_free();
    ksign_free();
    kconn_free(&conn);
    return 0;
}
