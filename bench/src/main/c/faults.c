/*
 * C baselines of the Java fault benchmarks. Mock devices behind nested IOPF-capable page tables,
 * one fault queue each; trigger threads issue TRIGGER_IOPF (one-record groups) with at most
 * --window faults in flight; a handler answers every fault SUCCESS in one of three styles:
 *   blocking    one thread per queue: read(2) a batch, poll(2) when empty, write(2) the answers
 *               (the kernel selftest's way; what BlockingFaultLoop does)
 *   uring-read  one thread, one io_uring: per queue a POLL_ADD linked to an IORING_OP_READ of a
 *               batch (the link keeps an empty queue from spinning: the fault fd's read returns 0
 *               when nothing is pending), answers with write(2)
 *   uring-poll  one thread, one io_uring: a multishot POLL_ADD per queue armed once, then direct
 *               read(2)/write(2) of batches until the queue is empty (FaultPump before it
 *               answered through the ring)
 *   uring-write one thread, one io_uring: a one-shot POLL_ADD per queue, read(2) of batches until
 *               one comes back short, each batch's answers as an IORING_OP_WRITE (fault fd
 *               O_NONBLOCK, so performed inline) submitted by the next io_uring_enter, which waits
 *               for the next completion unless records or answers are waiting: one enter and one
 *               read per batch (what FaultPump does)
 *   trigger     no handler: the triggers alone, no window (the faults stay queued until exit), so
 *               the round's time is what triggering costs (the handler's share: a handled round's
 *               time minus this)
 *   drain       the triggers alone as for trigger, then the uring-write handler started on the
 *               queued faults: the handler's own cost, whole batches, no wake-ups; faults_per_s
 *               is the drain's (from the handler's start), handler_cpu_ns_per_fault its thread's
 *               CPU time from the end of its first batch to its last (the other vCPU idle: its
 *               instructions)
 *   faults --mode M --queues Q --triggers T --faults N --batch B --window W [--cold 1]
 * (--cold 1: no warm-up round, the first N faults are timed)
 * prints: faults mode=M queues=Q triggers=T faults=N batch=B faults_per_s=X syscalls_per_fault=Y
 *         handler_cpu_ns_per_fault=H trigger_cpu_ns_per_fault=C trigger_waits=W
 * (system calls of the handler threads in the timed round; io_uring_enter counted where liburing
 * makes one: a submit that submitted something, a wait when no completion was ready; CPU time of
 * the handler and trigger threads in the timed round, CLOCK_THREAD_CPUTIME_ID; W: times a trigger
 * slept for room in the window)
 *
 * So that the clock counts only the faults' work (the guest's clock may count instructions), as
 * FaultLoad.java does: the threads are started before the clock; a trigger that finds the window
 * full sleeps (futex) until half of it is free instead of spinning; the clock stops in the
 * handler that counts the round's last fault, and the main thread sleeps until then instead of
 * polling.
 */
#include "bench.h"
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#define MAXQ 64
#define PGFAULT sizeof(struct iommu_hwpt_pgfault)
#define POLL_TAG (1ull << 32)
#define WRITE_TAG (2ull << 32)

static int iommufd, nq, ntrig, batch;
static long total, window;
static uint32_t dev_ids[MAXQ];
static int qfd[MAXQ];
static _Atomic long next_fault, handled, syscalls;
/* The round's clock: started by main, stopped by the handler that counts the last fault (done). */
static uint64_t start_ns, end_ns;
static _Atomic uint32_t go, done, ready;
/* Triggers asleep for room in the window: woken (wake_seq) once handled reaches wake_at. */
static _Atomic uint32_t wake_seq;
static _Atomic int sleepers;
static _Atomic long wake_at = LONG_MAX, trigger_waits, handler_cpu, trigger_cpu;
/* drain: the handler thread's CPU time at the end of its first batch and of the last, and that batch's size. */
static int draining;
static long drain_cpu_first = -1, drain_cpu_end, drain_first_n;

static void futex_wait(_Atomic uint32_t *word, uint32_t seen)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static long thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* Counts n faults handled: stops the clock at the round's last, wakes triggers waiting for room. */
static void count_handled(long n)
{
    long h = atomic_fetch_add(&handled, n) + n;
    if (draining && drain_cpu_first < 0) {
        drain_cpu_first = thread_cpu_ns();
        drain_first_n = n;
    }
    if (draining && h >= total) drain_cpu_end = thread_cpu_ns();
    if (h >= total && h - n < total) {
        end_ns = now_ns();
        atomic_store(&done, 1);
        futex_wake(&done);
    }
    if (atomic_load(&sleepers) > 0 && h >= atomic_load(&wake_at)) {
        atomic_store(&wake_at, LONG_MAX);
        atomic_fetch_add(&wake_seq, 1);
        futex_wake(&wake_seq);
    }
}

/* Sleeps until fault k fits in the window, waking once half of it is free. */
static void await_room(long k)
{
    while (k - atomic_load(&handled) >= window) {
        uint32_t seq = atomic_load(&wake_seq);
        atomic_fetch_add(&sleepers, 1);
        long target = k - window / 2, cur = atomic_load(&wake_at);
        while (target < cur && !atomic_compare_exchange_weak(&wake_at, &cur, target)) {}
        if (k - atomic_load(&handled) >= window) futex_wait(&wake_seq, seq);
        atomic_fetch_sub(&sleepers, 1);
        atomic_fetch_add(&trigger_waits, 1);
    }
}

/* A handler thread set up: counted ready (main starts the clock once all are); returns its CPU time. */
static long handler_ready(void)
{
    atomic_fetch_add(&ready, 1);
    futex_wake(&ready);
    return thread_cpu_ns();
}

static void *trigger(void *unused)
{
    (void)unused;
    struct iommu_test_cmd c = { .size = sizeof(c), .op = IOMMU_TEST_OP_TRIGGER_IOPF };
    while (!atomic_load(&go)) futex_wait(&go, 0);
    long cpu = thread_cpu_ns();
    for (;;) {
        long k = atomic_fetch_add(&next_fault, 1);
        if (k >= total) break;
        await_room(k);
        c.trigger_iopf.dev_id = dev_ids[k % nq];
        c.trigger_iopf.pasid = 0;
        c.trigger_iopf.grpid = (uint32_t)k;
        c.trigger_iopf.perm = IOMMU_PGFAULT_PERM_READ;
        c.trigger_iopf.addr = (uint64_t)k << 12;
        CHECK(ioctl(iommufd, IOMMU_TEST_CMD, &c));
    }
    atomic_fetch_add(&trigger_cpu, thread_cpu_ns() - cpu);
    return NULL;
}

/* Answers the groups of n records SUCCESS with one write(2); counts them as handled. */
static void respond(int fd, struct iommu_hwpt_pgfault *rec, int n, struct iommu_hwpt_page_response *resp, long *calls)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        if (rec[i].flags & IOMMU_PGFAULT_FLAGS_LAST_PAGE)
            resp[k++] = (struct iommu_hwpt_page_response){ .cookie = rec[i].cookie, .code = IOMMUFD_PAGE_RESP_SUCCESS };
    for (int done = 0; done < k;) {
        ssize_t w = write(fd, resp + done, (k - done) * sizeof(*resp));
        (*calls)++;
        CHECK(w);
        done += w / sizeof(*resp);
    }
    count_handled(n);
}

static int read_batch(int fd, struct iommu_hwpt_pgfault *rec, long *calls)
{
    (*calls)++;
    ssize_t r = read(fd, rec, batch * PGFAULT);
    CHECK(r);
    return r / PGFAULT;
}

static void *blocking(void *arg)
{
    int fd = qfd[(intptr_t)arg];
    struct iommu_hwpt_pgfault rec[batch];
    struct iommu_hwpt_page_response resp[batch];
    long calls = 0, cpu = handler_ready();
    while (atomic_load(&handled) < total) {
        int n = read_batch(fd, rec, &calls);
        if (n == 0) {
            struct pollfd p = { .fd = fd, .events = POLLIN };
            calls++;
            CHECK(poll(&p, 1, 100));
            continue;
        }
        respond(fd, rec, n, resp, &calls);
    }
    atomic_fetch_add(&handler_cpu, thread_cpu_ns() - cpu);
    atomic_fetch_add(&syscalls, calls);
    return NULL;
}

static void queue_read(struct io_uring *ring, int q, void *buf)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    io_uring_prep_poll_add(sqe, qfd[q], POLLIN);
    sqe->flags |= IOSQE_IO_LINK;
    io_uring_sqe_set_data64(sqe, POLL_TAG | q);
    sqe = io_uring_get_sqe(ring);
    io_uring_prep_read(sqe, qfd[q], buf, batch * PGFAULT, 0);
    io_uring_sqe_set_data64(sqe, q);
}

static void arm_poll(struct io_uring *ring, int q)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    io_uring_prep_poll_multishot(sqe, qfd[q], POLLIN);
    io_uring_sqe_set_data64(sqe, q);
}

static void *ring_handler(void *arg)
{
    int reads = (intptr_t)arg;
    struct io_uring ring;
    int rc = io_uring_queue_init(4 * MAXQ, &ring, 0);
    if (rc < 0) { fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-rc)); exit(1); }
    struct iommu_hwpt_pgfault (*rec)[batch] = calloc(nq, sizeof(*rec));
    struct iommu_hwpt_page_response resp[batch];
    for (int q = 0; q < nq; q++) reads ? queue_read(&ring, q, rec[q]) : arm_poll(&ring, q);
    io_uring_submit(&ring); /* armed before the clock starts */
    struct __kernel_timespec tick = { .tv_nsec = 100 * 1000 * 1000 };
    long calls = 0, cpu = handler_ready();
    while (atomic_load(&handled) < total) {
        struct io_uring_cqe *cqe;
        if (io_uring_submit(&ring) > 0) calls++;
        if (io_uring_peek_cqe(&ring, &cqe) != 0) calls++; /* no completion ready: the wait enters */
        rc = io_uring_wait_cqe_timeout(&ring, &cqe, &tick);
        if (rc == -ETIME || rc == -EINTR) continue;
        if (rc < 0) { fprintf(stderr, "io_uring_wait_cqe: %s\n", strerror(-rc)); exit(1); }
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            uint64_t ud = io_uring_cqe_get_data64(cqe);
            int q = (int)(ud & 0xffff);
            if (reads) {
                if (ud & POLL_TAG) continue; /* the linked read reports */
                if (cqe->res < 0) { fprintf(stderr, "ring read: %s\n", strerror(-cqe->res)); exit(1); }
                int n = cqe->res / PGFAULT;
                if (n > 0) respond(qfd[q], rec[q], n, resp, &calls);
                queue_read(&ring, q, rec[q]);
            } else {
                if (cqe->res < 0) { fprintf(stderr, "ring poll: %s\n", strerror(-cqe->res)); exit(1); }
                for (int n; (n = read_batch(qfd[q], rec[q], &calls)) > 0;) respond(qfd[q], rec[q], n, resp, &calls);
                if (!(cqe->flags & IORING_CQE_F_MORE)) arm_poll(&ring, q);
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
    atomic_fetch_add(&handler_cpu, thread_cpu_ns() - cpu);
    atomic_fetch_add(&syscalls, calls);
    io_uring_queue_exit(&ring);
    free(rec);
    return NULL;
}

/* Per queue for uring-write: the answers filling, and those of the ring write in flight (queued in turn write_turn). */
struct answers { struct iommu_hwpt_page_response *fill, *flight; int n, writing, flight_bytes; long write_turn; };

/*
 * Hands the answers of q to the ring (a write the next enter submits), unless the write of this
 * turn holds the other buffer (returns 0: they wait for the next enter); a ring write of an
 * earlier turn still running (punted to io-wq, which O_NONBLOCK avoids) is not waited for: write(2).
 */
static int send_answers(struct io_uring *ring, int q, struct answers *a, long turn, int *inflight, long *calls)
{
    if (a->n == 0) return 1;
    if (a->writing && a->write_turn == turn) return 0;
    if (a->writing) {
        for (int done = 0; done < a->n;) {
            ssize_t w = write(qfd[q], a->fill + done, (a->n - done) * sizeof(*a->fill));
            (*calls)++;
            CHECK(w);
            done += w / sizeof(*a->fill);
        }
        a->n = 0;
        return 1;
    }
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    io_uring_prep_write(sqe, qfd[q], a->fill, a->n * sizeof(*a->fill), 0);
    io_uring_sqe_set_data64(sqe, WRITE_TAG | q);
    a->flight_bytes = a->n * sizeof(*a->fill);
    struct iommu_hwpt_page_response *t = a->flight;
    a->flight = a->fill;
    a->fill = t;
    a->n = 0;
    a->writing = 1;
    a->write_turn = turn;
    (*inflight)++;
    return 1;
}

static void arm_oneshot(struct io_uring *ring, int q)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    io_uring_prep_poll_add(sqe, qfd[q], POLLIN);
    io_uring_sqe_set_data64(sqe, POLL_TAG | q);
}

static void *ring_write_handler(void *unused)
{
    (void)unused;
    struct io_uring ring;
    int rc = io_uring_queue_init(4 * MAXQ, &ring, 0);
    if (rc < 0) { fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-rc)); exit(1); }
    struct iommu_hwpt_pgfault (*rec)[batch] = calloc(nq, sizeof(*rec));
    struct answers a[MAXQ];
    int ready[MAXQ], more[MAXQ], inflight = 0, no_wait = 0;
    long turn = 0;
    for (int q = 0; q < nq; q++) {
        a[q] = (struct answers){ calloc(batch, sizeof(*a[q].fill)), calloc(batch, sizeof(*a[q].fill)), 0, 0, 0, -1 };
        ready[q] = more[q] = 0;
        arm_oneshot(&ring, q);
    }
    struct __kernel_timespec tick = { .tv_nsec = 100 * 1000 * 1000 };
    io_uring_submit(&ring); /* the polls armed before the clock starts */
    long calls = 0, cpu = handler_ready();
    while (atomic_load(&handled) < total) {
        struct io_uring_cqe *cqe;
        /* One enter: submits the writes and polls queued last turn (the writes complete inline)
           and waits for one completion more than the writes in flight, unless answers or records
           are waiting (liburing enters only when it has to). */
        if (no_wait) {
            if (io_uring_submit(&ring) > 0) calls++;
        } else {
            if (io_uring_sq_ready(&ring) > 0 || io_uring_cq_ready(&ring) < (unsigned)inflight + 1) calls++;
            rc = io_uring_submit_and_wait_timeout(&ring, &cqe, inflight + 1, &tick, NULL);
            if (rc < 0 && rc != -ETIME && rc != -EINTR) { fprintf(stderr, "io_uring_submit_and_wait: %s\n", strerror(-rc)); exit(1); }
        }
        no_wait = 0;
        turn++;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            uint64_t ud = io_uring_cqe_get_data64(cqe);
            int q = (int)(ud & 0xffff);
            if (ud & WRITE_TAG) {
                if (cqe->res != a[q].flight_bytes) {
                    fprintf(stderr, "ring write: %s (%d)\n", cqe->res < 0 ? strerror(-cqe->res) : "short", cqe->res);
                    exit(1);
                }
                a[q].writing = 0;
                inflight--;
            } else {
                if (cqe->res < 0) { fprintf(stderr, "ring poll: %s\n", strerror(-cqe->res)); exit(1); }
                ready[q] = 1;
            }
        }
        io_uring_cq_advance(&ring, seen);
        for (int q = 0; q < nq; q++) {
            if (ready[q] || more[q]) {
                ready[q] = more[q] = 0;
                for (;;) {
                    /* A batch's answers go to the ring before the next batch is read. */
                    if (!send_answers(&ring, q, &a[q], turn, &inflight, &calls)) { more[q] = 1; break; }
                    int n = read_batch(qfd[q], rec[q], &calls);
                    for (int i = 0; i < n; i++)
                        if (rec[q][i].flags & IOMMU_PGFAULT_FLAGS_LAST_PAGE)
                            a[q].fill[a[q].n++] = (struct iommu_hwpt_page_response){ .cookie = rec[q][i].cookie,
                                                                                     .code = IOMMUFD_PAGE_RESP_SUCCESS };
                    count_handled(n); /* counted when handled, as the Java pump's handler counts */
                    if (n < batch) break; /* short: the one-shot poll armed below says whether records are left */
                }
                if (!more[q]) arm_oneshot(&ring, q);
            }
            if (!send_answers(&ring, q, &a[q], turn, &inflight, &calls) || more[q]) no_wait = 1;
        }
    }
    /* The last answers: submitted and waited for (the next round's faults need none of them). */
    for (int q = 0; q < nq; q++) a[q].write_turn = -1; /* a write still queued is submitted below, then waited for */
    while (inflight > 0) {
        struct io_uring_cqe *cqe;
        calls++;
        rc = io_uring_submit_and_wait(&ring, 1);
        if (rc < 0 && rc != -EINTR) { fprintf(stderr, "io_uring_submit_and_wait: %s\n", strerror(-rc)); exit(1); }
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            uint64_t ud = io_uring_cqe_get_data64(cqe);
            if (ud & WRITE_TAG) { a[ud & 0xffff].writing = 0; inflight--; }
        }
        io_uring_cq_advance(&ring, seen);
        for (int q = 0; q < nq; q++) send_answers(&ring, q, &a[q], turn, &inflight, &calls);
    }
    atomic_fetch_add(&handler_cpu, thread_cpu_ns() - cpu);
    atomic_fetch_add(&syscalls, calls);
    io_uring_queue_exit(&ring);
    for (int q = 0; q < nq; q++) { free(a[q].fill); free(a[q].flight); }
    free(rec);
    return NULL;
}

/* One round: handlers and triggers started, then timed until every fault has been handled. */
static double round_faults_per_s(const char *mode, long n)
{
    total = n;
    atomic_store(&next_fault, 0);
    atomic_store(&handled, 0);
    atomic_store(&syscalls, 0);
    atomic_store(&go, 0);
    atomic_store(&done, 0);
    atomic_store(&ready, 0);
    atomic_store(&wake_at, LONG_MAX);
    atomic_store(&trigger_waits, 0);
    atomic_store(&handler_cpu, 0);
    atomic_store(&trigger_cpu, 0);
    pthread_t h[MAXQ], t[MAXQ];
    int nh = 0;
    draining = !strcmp(mode, "drain");
    drain_cpu_first = -1;
    if (!strcmp(mode, "trigger") || draining) {
        window = LONG_MAX; /* nobody answers: no window */
    } else if (!strcmp(mode, "blocking")) {
        for (; nh < nq; nh++) pthread_create(&h[nh], NULL, blocking, (void *)(intptr_t)nh);
    } else if (!strcmp(mode, "uring-write")) {
        pthread_create(&h[nh++], NULL, ring_write_handler, NULL);
    } else {
        pthread_create(&h[nh++], NULL, ring_handler, (void *)(intptr_t)!strcmp(mode, "uring-read"));
    }
    for (int i = 0; i < ntrig; i++) pthread_create(&t[i], NULL, trigger, NULL);
    for (uint32_t r; (r = atomic_load(&ready)) < (uint32_t)nh;) futex_wait(&ready, r);
    start_ns = now_ns();
    atomic_store(&go, 1);
    futex_wake(&go);
    for (int i = 0; i < ntrig; i++) pthread_join(t[i], NULL);
    if (nh == 0) end_ns = now_ns(); /* the triggers alone */
    if (draining) { /* then the handler on what they queued */
        start_ns = now_ns();
        pthread_create(&h[nh++], NULL, ring_write_handler, NULL);
    }
    while (nh > 0 && !atomic_load(&done)) futex_wait(&done, 0);
    uint64_t elapsed = end_ns - start_ns;
    for (int i = 0; i < nh; i++) pthread_join(h[i], NULL);
    return n / (elapsed / 1e9);
}

int main(int argc, char **argv)
{
    const char *mode = arg_str(argc, argv, "--mode", "blocking");
    nq = arg_long(argc, argv, "--queues", 1);
    ntrig = arg_long(argc, argv, "--triggers", 1);
    long n = arg_long(argc, argv, "--faults", 20000);
    batch = arg_long(argc, argv, "--batch", 64);
    window = arg_long(argc, argv, "--window", 1024);
    if (nq < 1 || nq > MAXQ || ntrig < 1 || ntrig > MAXQ || batch < 1
        || (strcmp(mode, "blocking") && strcmp(mode, "uring-read") && strcmp(mode, "uring-poll") && strcmp(mode, "uring-write")
            && strcmp(mode, "trigger") && strcmp(mode, "drain"))) {
        fprintf(stderr, "usage: faults --mode blocking|uring-read|uring-poll|uring-write|trigger|drain --queues Q --triggers T --faults N --batch B --window W\n");
        return 2;
    }
    iommufd = iommufd_open();
    uint32_t ioas = ioas_alloc(iommufd);
    for (int q = 0; q < nq; q++) {
        dev_ids[q] = faulting_device(iommufd, ioas, &qfd[q]);
        /* The fault fd never blocks; O_NONBLOCK lets io_uring perform its write inline (else io-wq). */
        if (!strcmp(mode, "uring-write") || !strcmp(mode, "drain")) CHECK(fcntl(qfd[q], F_SETFL, fcntl(qfd[q], F_GETFL) | O_NONBLOCK));
    }
    if (!arg_long(argc, argv, "--cold", 0)) round_faults_per_s(mode, n / 4 + 1); /* warm-up, as on the Java side */
    double fps = round_faults_per_s(mode, n);
    double hcpu = draining ? (double)(drain_cpu_end - drain_cpu_first) / (n - drain_first_n) /* after the first batch */
                           : (double)atomic_load(&handler_cpu) / n;
    printf("faults mode=%s queues=%d triggers=%d faults=%ld batch=%d faults_per_s=%.0f syscalls_per_fault=%.3f"
           " handler_cpu_ns_per_fault=%.0f trigger_cpu_ns_per_fault=%.0f trigger_waits=%ld\n", mode, nq, ntrig, n, batch, fps,
           (double)atomic_load(&syscalls) / n, hcpu, (double)atomic_load(&trigger_cpu) / n,
           atomic_load(&trigger_waits));
    return 0;
}
