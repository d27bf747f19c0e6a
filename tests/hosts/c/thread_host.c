/* 8 pthreads, each 50 times: open a session, log in (or find the user already logged in),
 * generate random bytes, close. argv[2] = "null" initialises with NULL args (python-pkcs11 style),
 * else with CKF_OS_LOCKING_OK. */
#include <pthread.h>

#include "host.h"

#define THREADS 8
#define LOOPS 50

static CK_FUNCTION_LIST *fl;
static CK_SLOT_ID slot;

static void *work(void *arg) {
    (void)arg;
    for (int i = 0; i < LOOPS; i++) {
        CK_SESSION_HANDLE h;
        CK_BYTE buf[64];
        CHECK(fl->C_OpenSession(slot, CKF_SERIAL_SESSION | (i % 2 ? CKF_RW_SESSION : 0), NULL, NULL, &h));
        CK_RV rv = login_user(fl, h);
        if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
            fprintf(stderr, "host: C_Login gave 0x%lx\n", rv);
            exit(2);
        }
        CHECK(fl->C_GenerateRandom(h, buf, sizeof(buf)));
        CHECK(fl->C_CloseSession(h));
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) return 64;
    fl = function_list(load_module(argv[1]));
    CK_C_INITIALIZE_ARGS args = {NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL};
    int null_args = argc > 2 && strcmp(argv[2], "null") == 0;
    CHECK(fl->C_Initialize(null_args ? NULL : &args));
    slot = find_token(fl);
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, work, NULL);
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    CHECK(fl->C_Finalize(NULL));
    fprintf(stderr, "host: ok\n");
    return 0;
}
