/* bench/chost.c: a C host for the benchmark's process-level rows (compiled by bench/chost.py).
 *
 * It loads one PKCS#11 module as any C application does (dlopen, C_GetFunctionList, C_Initialize
 * with CKF_OS_LOCKING_OK), so softhsm-py runs in its own embedded interpreter and no driver shares
 * its GIL. It logs in to the token labelled TOKEN, finds the benchmark's keys by label (the "rsa"
 * and "ec" private keys and the "rsa" public key, made by bench/tokens.py), then obeys its driver
 * on stdin:
 *
 *   prepare KIND THREADS   start THREADS threads, each with its own session, warmed up by one
 *                          untimed pass of KIND; answers "prepared" when all wait on a barrier
 *   go SECONDS             release them: each runs KIND for SECONDS; answers one JSON line
 *   quit                   C_Finalize and exit
 *
 * KIND: "rsa" (RSA-2048 sign, CKM_SHA256_RSA_PKCS, 64 B), "ecdsa" (CKM_ECDSA over a 32-byte hash)
 * or "mixed" (per pass: RSA sign, ECDSA sign, create a token data object, find it by label, read
 * its CKA_VALUE, destroy it, open and close a session). Only the operations that end before a
 * thread's deadline are counted; a started pass is finished (its object destroyed) regardless.
 * Every RSA sign counted has its latency (C_SignInit + C_Sign) recorded. The tiny kinds, timed
 * from C without any driver: "floor" (softhsm-py's softhsm_py_floor, an empty embedded call),
 * "getinfo", "random" (32 B), "digest" (C_DigestInit + C_Digest, SHA-256 of 64 B), "open_close"
 * and "getattr" (CKA_LABEL of the "rsa" public key).
 *
 * A failed call ends the process with a message on stderr (exit status 3), except in the mixed
 * workload, where failures are counted and reported (see soft()).
 *
 * usage: chost MODULE TOKEN PIN
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pkcs11.h"

typedef struct function_list {
    CK_VERSION version;
#define FWD(name, params, args) CK_RV(*name) params;
#define LOCAL(name, params) CK_RV(*name) params;
#define FWD3(name, params, args)
#define LOCAL3(name, params)
#define FWD32(name, params, args)
#include "functions.h"
#undef FWD
#undef FWD3
#undef FWD32
#undef LOCAL
#undef LOCAL3
} function_list;

/* PKCS#11 3.0 constants (the few used here) */
#define CKF_OS_LOCKING_OK 0x2UL
#define CKF_RW_SESSION 0x2UL
#define CKF_SERIAL_SESSION 0x4UL
#define CKU_USER 1UL
#define CKR_USER_ALREADY_LOGGED_IN 0x100UL
#define CKO_DATA 0UL
#define CKO_PRIVATE_KEY 3UL
#define CKA_CLASS 0x0UL
#define CKA_TOKEN 0x1UL
#define CKA_PRIVATE 0x2UL
#define CKA_LABEL 0x3UL
#define CKA_VALUE 0x11UL
#define CKM_SHA256_RSA_PKCS 0x40UL
#define CKM_ECDSA 0x1041UL
#define CKM_SHA256 0x250UL
#define CKO_PUBLIC_KEY 2UL
#define TINY_BATCH 256 /* tiny calls between two looks at the clock */

/* The tiny kinds (FLOOR and after) are counted in batches of TINY_BATCH under "tiny". */
enum kind { RSA, ECDSA, MIXED, FLOOR, GETINFO, RANDOM, DIGEST, OPEN_CLOSE, GETATTR, KINDS };
static const char *const kind_names[KINDS] = {"rsa",    "ecdsa",  "mixed",      "floor",  "getinfo",
                                              "random", "digest", "open_close", "getattr"};
enum step { S_RSA, S_ECDSA, S_CREATE, S_FIND, S_READ, S_DESTROY, S_SESSION, S_TINY, STEPS };
static const char *const step_names[STEPS] = {"rsa_sign", "ecdsa_sign", "create", "find",
                                              "read",     "destroy",    "open_close", "tiny"};

static function_list *fl;
static CK_SLOT_ID slot;
static CK_OBJECT_HANDLE rsa_key, ec_key, rsa_public;
static CK_RV (*floor_call)(void); /* softhsm-py's softhsm_py_floor, NULL in other modules */

typedef struct worker {
    pthread_t thread;
    int index;
    enum kind kind;
    double seconds;
    CK_SESSION_HANDLE session;
    unsigned long counts[STEPS];
    double *latencies_ms; /* RSA signs */
    size_t n_latencies, cap_latencies;
    unsigned long extra_found; /* finds that listed more than the one object (see object_steps) */
    unsigned long errors;      /* failed calls of the object and session steps (see soft) */
    double elapsed;            /* from the barrier to the end of the last pass */
    char first_error[96];
} worker;

static unsigned long label_serial; /* labels are never reused in a process, across runs either */

static pthread_barrier_t start_barrier;
static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static int ready_count; /* workers warmed up and about to wait on the barrier */

static void fail(const char *what, CK_RV rv) {
    fprintf(stderr, "chost: %s returned 0x%lx\n", what, rv);
    fflush(stderr);
    _exit(3);
}

static void ok(const char *what, CK_RV rv) {
    if (rv != 0) fail(what, rv);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static CK_OBJECT_HANDLE find_one(CK_SESSION_HANDLE h, CK_OBJECT_CLASS cls, const char *label) {
    CK_ATTRIBUTE t[2] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE found[2];
    CK_ULONG count = 0;
    ok("C_FindObjectsInit", fl->C_FindObjectsInit(h, t, 2));
    ok("C_FindObjects", fl->C_FindObjects(h, found, 2, &count));
    ok("C_FindObjectsFinal", fl->C_FindObjectsFinal(h));
    if (count != 1) {
        fprintf(stderr, "chost: %lu objects labelled %s\n", count, label);
        _exit(3);
    }
    return found[0];
}

static int soft(worker *w, const char *what, CK_RV rv);

/* C_SignInit + C_Sign; returns 1 if both succeeded. In the mixed workload a failure is counted
 * (soft), elsewhere it ends the process. */
static int sign(worker *w, CK_MECHANISM_TYPE type, CK_OBJECT_HANDLE key, CK_ULONG size) {
    static CK_BYTE data[64] = {1, 2, 3, 4, 5, 6, 7, 8};
    CK_BYTE sig[512];
    CK_ULONG sig_len = sizeof(sig);
    CK_MECHANISM mech = {type, NULL, 0};
    CK_RV rv = fl->C_SignInit(w->session, &mech, key);
    if (rv == 0) {
        rv = fl->C_Sign(w->session, data, size, sig, &sig_len);
        if (w->kind != MIXED) ok("C_Sign", rv);
        return soft(w, "C_Sign", rv);
    }
    if (w->kind != MIXED) ok("C_SignInit", rv);
    return soft(w, "C_SignInit", rv);
}

/* A failed call of the mixed workload: counted (SoftHSMv2's file store answers
 * CKR_GENERAL_ERROR now and then under many threads), the first one remembered; never counted as
 * an operation done. */
static int soft(worker *w, const char *what, CK_RV rv) {
    if (rv == 0) return 1;
    if (w->errors++ == 0) snprintf(w->first_error, sizeof(w->first_error), "%s 0x%lx", what, rv);
    return 0;
}

/* The object steps of one mixed pass: create, find by label, read, destroy; each is counted if it
 * ended by the deadline. */
static void object_steps(worker *w, double deadline) {
    char label[64];
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_BBOOL yes = 1;
    CK_BYTE value[32];
    memset(value, 'v', sizeof(value));
    snprintf(label, sizeof(label), "mix-%ld-%lu", (long)getpid(),
             __atomic_fetch_add(&label_serial, 1, __ATOMIC_RELAXED));
    CK_ATTRIBUTE t[5] = {{CKA_CLASS, &cls, sizeof(cls)},
                         {CKA_TOKEN, &yes, sizeof(yes)},
                         {CKA_PRIVATE, &yes, sizeof(yes)},
                         {CKA_LABEL, label, strlen(label)},
                         {CKA_VALUE, value, sizeof(value)}};
    CK_OBJECT_HANDLE obj;
    if (!soft(w, "C_CreateObject", fl->C_CreateObject(w->session, t, 5, &obj))) return;
    if (now() <= deadline) w->counts[S_CREATE]++;

    CK_ATTRIBUTE by_label[2] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, label, strlen(label)}};
    CK_OBJECT_HANDLE found[4];
    CK_ULONG count = 0, mine = 0;
    if (soft(w, "C_FindObjectsInit", fl->C_FindObjectsInit(w->session, by_label, 2))) {
        int listed = soft(w, "C_FindObjects", fl->C_FindObjects(w->session, found, 4, &count));
        int ended = soft(w, "C_FindObjectsFinal", fl->C_FindObjectsFinal(w->session));
        for (CK_ULONG i = 0; listed && i < count; i++) mine += found[i] == obj;
        if (listed && ended && mine) {
            if (now() <= deadline) w->counts[S_FIND]++;
            /* SoftHSMv2's file store, written by several threads, can list one new object under
             * a second handle: counted, not an error */
            w->extra_found += count - 1;
        } else if (listed && ended) {
            soft(w, "C_FindObjects (the new object not found)", 1);
        }
    }
    CK_BYTE got[32];
    CK_ATTRIBUTE read = {CKA_VALUE, got, sizeof(got)};
    if (soft(w, "C_GetAttributeValue", fl->C_GetAttributeValue(w->session, obj, &read, 1)) && now() <= deadline)
        w->counts[S_READ]++;
    if (soft(w, "C_DestroyObject", fl->C_DestroyObject(w->session, obj)) && now() <= deadline)
        w->counts[S_DESTROY]++;
}

static void record_latency(worker *w, double ms) {
    if (w->n_latencies == w->cap_latencies) {
        w->cap_latencies = w->cap_latencies ? 2 * w->cap_latencies : 1024;
        w->latencies_ms = realloc(w->latencies_ms, w->cap_latencies * sizeof(double));
        if (!w->latencies_ms) {
            fprintf(stderr, "chost: out of memory\n");
            _exit(3);
        }
    }
    w->latencies_ms[w->n_latencies++] = ms;
}

/* One tiny operation: the floor, or one or two PKCS#11 calls that do little work. */
static void tiny(worker *w) {
    static CK_BYTE data[64];
    CK_BYTE out[32];
    CK_ULONG out_len = sizeof(out);
    switch (w->kind) {
    case FLOOR:
        ok("softhsm_py_floor", floor_call());
        break;
    case GETINFO: {
        CK_INFO info;
        ok("C_GetInfo", fl->C_GetInfo(&info));
        break;
    }
    case RANDOM:
        ok("C_GenerateRandom", fl->C_GenerateRandom(w->session, out, 32));
        break;
    case DIGEST: {
        CK_MECHANISM mech = {CKM_SHA256, NULL, 0};
        ok("C_DigestInit", fl->C_DigestInit(w->session, &mech));
        ok("C_Digest", fl->C_Digest(w->session, data, sizeof(data), out, &out_len));
        break;
    }
    case OPEN_CLOSE: {
        CK_SESSION_HANDLE h;
        ok("C_OpenSession", fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h));
        ok("C_CloseSession", fl->C_CloseSession(h));
        break;
    }
    case GETATTR: {
        CK_ATTRIBUTE label = {CKA_LABEL, out, 3}; /* "rsa" */
        ok("C_GetAttributeValue", fl->C_GetAttributeValue(w->session, rsa_public, &label, 1));
        break;
    }
    default:
        break;
    }
}

/* One pass of the worker's kind; returns 0 once the deadline has passed. */
static int pass(worker *w, double deadline, int timed) {
    if (w->kind >= FLOOR) { /* every batch counts: the rate is over the thread's own elapsed time */
        for (int i = 0; i < TINY_BATCH; i++) tiny(w);
        if (timed) w->counts[S_TINY] += TINY_BATCH;
        return now() <= deadline;
    }
    if (w->kind == RSA || w->kind == MIXED) {
        double t0 = now();
        int signed_ = sign(w, CKM_SHA256_RSA_PKCS, rsa_key, 64);
        double t1 = now();
        if (signed_ && timed && t1 <= deadline) {
            w->counts[S_RSA]++;
            record_latency(w, (t1 - t0) * 1e3);
        }
    }
    if (w->kind == ECDSA || w->kind == MIXED) {
        if (sign(w, CKM_ECDSA, ec_key, 32) && timed && now() <= deadline) w->counts[S_ECDSA]++;
    }
    if (w->kind == MIXED) {
        object_steps(w, timed ? deadline : 0);
        CK_SESSION_HANDLE extra;
        CK_FLAGS flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
        if (soft(w, "C_OpenSession", fl->C_OpenSession(slot, flags, NULL, NULL, &extra)) &&
            soft(w, "C_CloseSession", fl->C_CloseSession(extra)) && timed && now() <= deadline)
            w->counts[S_SESSION]++;
    }
    return now() <= deadline;
}

static void *run_worker(void *arg) {
    worker *w = arg;
    ok("C_OpenSession", fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &w->session));
    pass(w, 0, 0); /* warm-up, untimed */
    pthread_mutex_lock(&ready_lock);
    ready_count++;
    pthread_cond_signal(&ready_cond);
    pthread_mutex_unlock(&ready_lock);
    pthread_barrier_wait(&start_barrier);
    double start = now(), deadline = start + w->seconds;
    while (pass(w, deadline, 1)) {
    }
    w->elapsed = now() - start;
    ok("C_CloseSession", fl->C_CloseSession(w->session));
    return NULL;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(worker *workers, int n, const char *kind, double seconds) {
    unsigned long counts[STEPS] = {0}, total = 0, extra_found = 0, errors = 0;
    const char *first_error = "";
    size_t n_lat = 0;
    double elapsed = 0;
    for (int i = 0; i < n; i++) {
        elapsed += workers[i].elapsed / n;
        extra_found += workers[i].extra_found;
        if (workers[i].errors && !errors) first_error = workers[i].first_error;
        errors += workers[i].errors;
        for (int s = 0; s < STEPS; s++) counts[s] += workers[i].counts[s];
        n_lat += workers[i].n_latencies;
    }
    double *lat = malloc((n_lat ? n_lat : 1) * sizeof(double)), sum = 0;
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        for (size_t j = 0; j < workers[i].n_latencies; j++) {
            lat[k++] = workers[i].latencies_ms[j];
            sum += workers[i].latencies_ms[j];
        }
    }
    qsort(lat, n_lat, sizeof(double), by_value);
    printf("{\"kind\": \"%s\", \"threads\": %d, \"seconds\": %g, \"elapsed\": %.6f, \"counts\": {", kind, n,
           seconds, elapsed);
    for (int s = 0; s < STEPS; s++) {
        printf("%s\"%s\": %lu", s ? ", " : "", step_names[s], counts[s]);
        total += counts[s];
    }
    printf("}, \"ops\": %lu, \"extra_found\": %lu, \"errors\": %lu, \"first_error\": \"%s\"", total,
           extra_found, errors, first_error);
    printf(", \"rsa_latency_ms\": {\"n\": %zu, \"sum\": %.6f", n_lat, sum);
    if (n_lat) {
        printf(", \"p50\": %.6f, \"p95\": %.6f, \"max\": %.6f", lat[n_lat / 2], lat[(n_lat * 95) / 100],
               lat[n_lat - 1]);
    }
    printf("}}\n");
    fflush(stdout);
    free(lat);
}

static void login(const char *token, const char *pin) {
    CK_ULONG n = 0;
    ok("C_GetSlotList", fl->C_GetSlotList(1, NULL, &n));
    CK_SLOT_ID *slots = calloc(n ? n : 1, sizeof(CK_SLOT_ID));
    ok("C_GetSlotList", fl->C_GetSlotList(1, slots, &n));
    char padded[33];
    snprintf(padded, sizeof(padded), "%-32s", token);
    int found = 0;
    for (CK_ULONG i = 0; i < n && !found; i++) {
        CK_TOKEN_INFO info;
        ok("C_GetTokenInfo", fl->C_GetTokenInfo(slots[i], &info));
        if (memcmp(info.label, padded, 32) == 0) {
            slot = slots[i];
            found = 1;
        }
    }
    free(slots);
    if (!found) {
        fprintf(stderr, "chost: no token labelled %s\n", token);
        _exit(3);
    }
    CK_SESSION_HANDLE h;
    ok("C_OpenSession", fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h));
    CK_RV rv = fl->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
    if (rv != CKR_USER_ALREADY_LOGGED_IN) ok("C_Login", rv);
    rsa_key = find_one(h, CKO_PRIVATE_KEY, "rsa");
    ec_key = find_one(h, CKO_PRIVATE_KEY, "ec");
    rsa_public = find_one(h, CKO_PUBLIC_KEY, "rsa");
    /* h stays open: the login lasts while a session of this application is open */
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: chost MODULE TOKEN PIN\n");
        return 2;
    }
    void *module = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!module) {
        fprintf(stderr, "chost: %s\n", dlerror());
        return 3;
    }
    CK_RV (*get_list)(function_list **) = (CK_RV(*)(function_list **))dlsym(module, "C_GetFunctionList");
    if (!get_list) {
        fprintf(stderr, "chost: no C_GetFunctionList in %s\n", argv[1]);
        return 3;
    }
    ok("C_GetFunctionList", get_list(&fl));
    floor_call = (CK_RV(*)(void))dlsym(module, "softhsm_py_floor");
    CK_C_INITIALIZE_ARGS init = {NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL};
    ok("C_Initialize", fl->C_Initialize(&init));
    login(argv[2], argv[3]);
    printf("ready\n");
    fflush(stdout);

    char line[256], kind_name[32];
    worker *workers = NULL;
    int n = 0;
    enum kind kind = RSA;
    while (fgets(line, sizeof(line), stdin)) {
        double seconds;
        if (sscanf(line, "prepare %31s %d", kind_name, &n) == 2 && n > 0 && n <= 256) {
            for (kind = 0; kind < KINDS && strcmp(kind_name, kind_names[kind]) != 0; kind++) {
            }
            if (kind == KINDS || (kind == FLOOR && !floor_call)) {
                fprintf(stderr, "chost: cannot run %s here\n", kind_name);
                return 2;
            }
            workers = calloc((size_t)n, sizeof(worker));
            pthread_barrier_init(&start_barrier, NULL, (unsigned)n + 1);
            for (int i = 0; i < n; i++) {
                workers[i].index = i;
                workers[i].kind = kind;
            }
            ready_count = 0;
            for (int i = 0; i < n; i++) {
                if (pthread_create(&workers[i].thread, NULL, run_worker, &workers[i]) != 0) {
                    fprintf(stderr, "chost: cannot start a thread\n");
                    return 3;
                }
            }
            /* "prepared" once every thread is warmed up; they wait on the barrier, which main
             * joins on "go" (so that the windows of several processes start together). */
            pthread_mutex_lock(&ready_lock);
            while (ready_count < n) pthread_cond_wait(&ready_cond, &ready_lock);
            pthread_mutex_unlock(&ready_lock);
            printf("prepared\n");
            fflush(stdout);
        } else if (sscanf(line, "go %lf", &seconds) == 1 && workers) {
            for (int i = 0; i < n; i++) workers[i].seconds = seconds;
            pthread_barrier_wait(&start_barrier);
            for (int i = 0; i < n; i++) pthread_join(workers[i].thread, NULL);
            report(workers, n, kind_name, seconds);
            for (int i = 0; i < n; i++) free(workers[i].latencies_ms);
            free(workers);
            workers = NULL;
            pthread_barrier_destroy(&start_barrier);
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        } else {
            fprintf(stderr, "chost: unknown command: %s", line);
            return 2;
        }
    }
    ok("C_Finalize", fl->C_Finalize(NULL));
    return 0;
}
