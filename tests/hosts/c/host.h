/* Shared bits of the small C hosts: load a PKCS#11 module the way real hosts do (dlopen with
 * RTLD_NOW | RTLD_LOCAL, C_GetFunctionList), find the initialised token, and check results.
 * Types come from the project's native/pkcs11.h; the 2.40 function list is built from
 * native/functions.h, like shim.c does (compile with -I native). */
#ifndef HOST_H
#define HOST_H
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkcs11.h"

typedef struct CK_FUNCTION_LIST {
    CK_VERSION version;
#define FWD(name, params, args) CK_RV(*name) params;
#define LOCAL(name, params) CK_RV(*name) params;
#define FWD3(name, params, args)
#define FWD32(name, params, args)
#define LOCAL3(name, params)
#include "functions.h"
#undef FWD
#undef FWD3
#undef FWD32
#undef LOCAL
#undef LOCAL3
} CK_FUNCTION_LIST;

#define CKR_OK 0UL
#define CKR_GENERAL_ERROR 5UL
#define CKR_USER_ALREADY_LOGGED_IN 0x100UL
#define CKR_CRYPTOKI_NOT_INITIALIZED 0x190UL
#define CKF_RW_SESSION 2UL
#define CKF_SERIAL_SESSION 4UL
#define CKF_OS_LOCKING_OK 2UL
#define CKF_TOKEN_INITIALIZED 0x400UL
#define CKU_USER 1UL

/* Fail the host (exit 2) with the function's name and its CK_RV. */
#define CHECK(call)                                                                   \
    do {                                                                              \
        CK_RV rv_ = (call);                                                           \
        if (rv_ != CKR_OK) {                                                          \
            fprintf(stderr, "host: %s returned 0x%lx (line %d)\n", #call, rv_, __LINE__); \
            exit(2);                                                                  \
        }                                                                             \
    } while (0)

static inline void *load_module(const char *path) {
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        fprintf(stderr, "host: dlopen: %s\n", dlerror());
        exit(3);
    }
    return handle;
}

static inline CK_FUNCTION_LIST *function_list(void *handle) {
    CK_RV (*get)(CK_VOID_PTR_PTR) = (CK_RV(*)(CK_VOID_PTR_PTR))dlsym(handle, "C_GetFunctionList");
    void *fl = NULL;
    if (!get) {
        fprintf(stderr, "host: no C_GetFunctionList\n");
        exit(3);
    }
    CHECK(get(&fl));
    return (CK_FUNCTION_LIST *)fl;
}

/* The first slot whose token is initialised. */
static inline CK_SLOT_ID find_token(CK_FUNCTION_LIST *fl) {
    CK_SLOT_ID slots[64];
    CK_ULONG count = 64;
    CHECK(fl->C_GetSlotList(0, slots, &count));
    for (CK_ULONG i = 0; i < count; i++) {
        CK_TOKEN_INFO info;
        CHECK(fl->C_GetTokenInfo(slots[i], &info));
        if (info.flags & CKF_TOKEN_INITIALIZED) return slots[i];
    }
    fprintf(stderr, "host: no initialised token\n");
    exit(4);
}

static inline const char *user_pin(void) {
    const char *pin = getenv("HOST_USER_PIN");
    return pin ? pin : "87654321";
}

static inline CK_RV login_user(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE h) {
    const char *pin = user_pin();
    return fl->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
}
#endif
