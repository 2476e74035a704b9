/* A stand-in libnvidia-ml.so.1 for tfgpu's tests: exports the NVML calls that pynvml makes for
 * tfgpu's driver probe, with answers configured at run time through environment variables:
 *
 *   FAKE_NVML_INIT_ERROR  NVML return code for nvmlInit (9 driver not loaded, 18 version mismatch, ...)
 *   FAKE_NVML_HANG        seconds to sleep inside nvmlInit (a hung driver)
 *   FAKE_NVML_CRASH       1: nvmlInit dies with SIGSEGV (a crash in native code)
 *   FAKE_NVML_DRIVER      driver version string (default 535.104.05)
 *   FAKE_NVML_CUDA        CUDA driver version as NVML encodes it, 1000*major + 10*minor (default 12020)
 *   FAKE_NVML_GPUS        GPUs separated by ';', each "key=value,key=value":
 *                         name, cc (9.0), mem / used (MiB), procs (pid:MiB+pid:MiB), mig, ecc,
 *                         eccerr, retired, persist (0/1 or counts), bus (bits), mclk (MHz),
 *                         lost (1: the handle query fails with GPU_IS_LOST),
 *                         nosupport (any of mig+ecc+procs+bus+clock+retired: NOT_SUPPORTED)
 *
 * Compiled with -DOLD_DRIVER it leaves out calls that older drivers lack (memory info v2,
 * running processes v3, memory bus width, CUDA driver version v2), so pynvml raises
 * NVMLError_FunctionNotFound for them. Signatures follow nvml.h (NVML API reference).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>

typedef int nvmlReturn_t;
#define OK 0
#define ERR_INVALID_ARGUMENT 2
#define ERR_NOT_SUPPORTED 3
#define ERR_NOT_FOUND 6
#define ERR_INSUFFICIENT_SIZE 7
#define ERR_GPU_IS_LOST 15
#define MAX_GPUS 16
#define MAX_PROCS 8

typedef struct {
    char name[96];
    int cc_major, cc_minor;
    unsigned long long mem_mib, used_mib;
    unsigned proc_pid[MAX_PROCS];
    unsigned long long proc_mib[MAX_PROCS];
    unsigned nprocs;
    int mig, ecc, persist, retired, lost;
    unsigned long long eccerr;
    unsigned bus, mclk;
    char nosupport[96];
} gpu_t;

static gpu_t gpus[MAX_GPUS];
static unsigned ngpus = 0;
static int parsed = 0;

static const char *env_or(const char *name, const char *dflt) {
    const char *v = getenv(name);
    return (v && *v) ? v : dflt;
}

static void parse_gpu(char *spec, gpu_t *g) {
    char *save = NULL;
    memset(g, 0, sizeof(*g));
    strcpy(g->name, "NVIDIA A100-SXM4-80GB");
    g->cc_major = 8; g->cc_minor = 0; g->mem_mib = 81920; g->used_mib = 0;
    g->bus = 5120; g->mclk = 1593; g->persist = 1;
    for (char *kv = strtok_r(spec, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) continue;
        *eq = 0;
        const char *k = kv, *v = eq + 1;
        if (!strcmp(k, "name")) { strncpy(g->name, v, sizeof(g->name) - 1); }
        else if (!strcmp(k, "cc")) { sscanf(v, "%d.%d", &g->cc_major, &g->cc_minor); }
        else if (!strcmp(k, "mem")) { g->mem_mib = strtoull(v, NULL, 10); }
        else if (!strcmp(k, "used")) { g->used_mib = strtoull(v, NULL, 10); }
        else if (!strcmp(k, "mig")) { g->mig = atoi(v); }
        else if (!strcmp(k, "ecc")) { g->ecc = atoi(v); }
        else if (!strcmp(k, "eccerr")) { g->eccerr = strtoull(v, NULL, 10); }
        else if (!strcmp(k, "retired")) { g->retired = atoi(v); }
        else if (!strcmp(k, "persist")) { g->persist = atoi(v); }
        else if (!strcmp(k, "lost")) { g->lost = atoi(v); }
        else if (!strcmp(k, "bus")) { g->bus = (unsigned)atoi(v); }
        else if (!strcmp(k, "mclk")) { g->mclk = (unsigned)atoi(v); }
        else if (!strcmp(k, "nosupport")) { strncpy(g->nosupport, v, sizeof(g->nosupport) - 1); }
        else if (!strcmp(k, "procs")) {
            char buf[256], *psave = NULL;
            strncpy(buf, v, sizeof(buf) - 1); buf[sizeof(buf) - 1] = 0;
            for (char *p = strtok_r(buf, "+", &psave); p && g->nprocs < MAX_PROCS; p = strtok_r(NULL, "+", &psave)) {
                unsigned pid = 0; unsigned long long mib = 0;
                if (sscanf(p, "%u:%llu", &pid, &mib) >= 1) {
                    g->proc_pid[g->nprocs] = pid; g->proc_mib[g->nprocs] = mib; g->nprocs++;
                }
            }
        }
    }
}

static void parse_all(void) {
    if (parsed) return;
    parsed = 1;
    const char *spec = env_or("FAKE_NVML_GPUS", "");
    char *copy = strdup(spec), *save = NULL;
    for (char *one = strtok_r(copy, ";", &save); one && ngpus < MAX_GPUS; one = strtok_r(NULL, ";", &save)) {
        if (!*one) continue;
        char *dup = strdup(one);
        parse_gpu(dup, &gpus[ngpus++]);
        free(dup);
    }
    free(copy);
}

static int unsupported(const gpu_t *g, const char *what) { return strstr(g->nosupport, what) != NULL; }

static nvmlReturn_t copy_str(char *dst, unsigned len, const char *src) {
    if (!dst || strlen(src) + 1 > len) return ERR_INSUFFICIENT_SIZE;
    strcpy(dst, src);
    return OK;
}

/* ---- initialisation ---------------------------------------------------------------------- */
nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
    (void)flags;
    int hang = atoi(env_or("FAKE_NVML_HANG", "0"));
    if (hang > 0) sleep((unsigned)hang);
    if (atoi(env_or("FAKE_NVML_CRASH", "0"))) raise(SIGSEGV);
    parse_all();
    return atoi(env_or("FAKE_NVML_INIT_ERROR", "0"));
}
nvmlReturn_t nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
nvmlReturn_t nvmlInit(void) { return nvmlInitWithFlags(0); }
nvmlReturn_t nvmlShutdown(void) { return OK; }

const char *nvmlErrorString(nvmlReturn_t r) {
    switch (r) {
    case 0: return "Success";
    case 3: return "Not Supported";
    case 4: return "Insufficient Permissions";
    case 9: return "Driver Not Loaded";
    case 12: return "NVML Shared Library Not Found";
    case 13: return "Function Not Found";
    case 15: return "GPU is lost";
    case 16: return "GPU requires restart";
    case 18: return "RM has detected an NVML/RM version mismatch.";
    default: return "Unknown Error";
    }
}

/* ---- system ------------------------------------------------------------------------------ */
nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    return copy_str(version, length, env_or("FAKE_NVML_DRIVER", "535.104.05"));
}
nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length) {
    /* NVML versions read "<CUDA major>.<driver version>", e.g. 12.535.104.05. */
    char buf[96];
    snprintf(buf, sizeof(buf), "%d.%s", atoi(env_or("FAKE_NVML_CUDA", "12020")) / 1000,
             env_or("FAKE_NVML_DRIVER", "535.104.05"));
    return copy_str(version, length, buf);
}
nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *v) {
    if (!v) return ERR_INVALID_ARGUMENT;
    *v = atoi(env_or("FAKE_NVML_CUDA", "12020"));
    return OK;
}
#ifndef OLD_DRIVER
nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *v) { return nvmlSystemGetCudaDriverVersion(v); }
#endif
nvmlReturn_t nvmlSystemGetProcessName(unsigned int pid, char *name, unsigned int length) {
    char buf[64];
    snprintf(buf, sizeof(buf), "python%u", pid);
    return copy_str(name, length, buf);
}

/* ---- devices ----------------------------------------------------------------------------- */
typedef gpu_t *nvmlDevice_t;

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    parse_all();
    if (!count) return ERR_INVALID_ARGUMENT;
    *count = ngpus;
    return OK;
}
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    parse_all();
    if (index >= ngpus || !device) return ERR_INVALID_ARGUMENT;
    if (gpus[index].lost) return ERR_GPU_IS_LOST;
    *device = &gpus[index];
    return OK;
}
static unsigned index_of(nvmlDevice_t d) { return (unsigned)(d - gpus); }

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int length) {
    return copy_str(name, length, d->name);
}
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int length) {
    char buf[80];
    snprintf(buf, sizeof(buf), "GPU-%08x-1111-2222-3333-%012x", 0xabc00000u + index_of(d), index_of(d));
    return copy_str(uuid, length, buf);
}

typedef struct {
    char busIdLegacy[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *pci) {
    if (!pci) return ERR_INVALID_ARGUMENT;
    memset(pci, 0, sizeof(*pci));
    pci->bus = 0x17 + index_of(d);
    snprintf(pci->busId, sizeof(pci->busId), "00000000:%02X:00.0", pci->bus);
    snprintf(pci->busIdLegacy, sizeof(pci->busIdLegacy), "0000:%02X:00.0", pci->bus);
    return OK;
}
nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t d, int *major, int *minor) {
    if (!major || !minor) return ERR_INVALID_ARGUMENT;
    *major = d->cc_major; *minor = d->cc_minor;
    return OK;
}

typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned int version; unsigned long long total, reserved, free, used; } nvmlMemory_v2_t;
#define MIB (1024ULL * 1024ULL)

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m) {
    if (!m) return ERR_INVALID_ARGUMENT;
    m->total = d->mem_mib * MIB; m->used = d->used_mib * MIB; m->free = m->total - m->used;
    return OK;
}
#ifndef OLD_DRIVER
nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, nvmlMemory_v2_t *m) {
    if (!m) return ERR_INVALID_ARGUMENT;
    m->total = d->mem_mib * MIB; m->reserved = 512 * MIB; m->used = d->used_mib * MIB;
    m->free = m->total - m->used - m->reserved;
    return OK;
}
#endif

typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;

static nvmlReturn_t procs(nvmlDevice_t d, unsigned int *count, nvmlProcessInfo_t *infos) {
    if (!count) return ERR_INVALID_ARGUMENT;
    if (unsupported(d, "procs")) return ERR_NOT_SUPPORTED;
    if (d->nprocs == 0) { *count = 0; return OK; }
    if (!infos || *count < d->nprocs) { *count = d->nprocs; return ERR_INSUFFICIENT_SIZE; }
    for (unsigned i = 0; i < d->nprocs; i++) {
        infos[i].pid = d->proc_pid[i];
        infos[i].usedGpuMemory = d->proc_mib[i] * MIB;
        infos[i].gpuInstanceId = 0xFFFFFFFFu; infos[i].computeInstanceId = 0xFFFFFFFFu;
    }
    *count = d->nprocs;
    return OK;
}
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t d, unsigned int *c, nvmlProcessInfo_t *i) {
    return procs(d, c, i);
}
#ifndef OLD_DRIVER
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int *c, nvmlProcessInfo_t *i) {
    return procs(d, c, i);
}
#endif

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned int *current, unsigned int *pending) {
    if (unsupported(d, "mig")) return ERR_NOT_SUPPORTED;
    *current = (unsigned)d->mig; *pending = (unsigned)d->mig;
    return OK;
}
nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t d, int *mode) { *mode = d->persist; return OK; }
nvmlReturn_t nvmlDeviceGetEccMode(nvmlDevice_t d, int *current, int *pending) {
    if (unsupported(d, "ecc")) return ERR_NOT_SUPPORTED;
    *current = d->ecc; *pending = d->ecc;
    return OK;
}
nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t d, int errorType, int counterType, unsigned long long *count) {
    (void)counterType;
    if (unsupported(d, "ecc") || !d->ecc) return ERR_NOT_SUPPORTED;
    *count = errorType == 1 ? d->eccerr : 0;
    return OK;
}
nvmlReturn_t nvmlDeviceGetRetiredPagesPendingStatus(nvmlDevice_t d, int *pending) {
    if (unsupported(d, "retired")) return ERR_NOT_SUPPORTED;
    *pending = d->retired;
    return OK;
}
#ifndef OLD_DRIVER
nvmlReturn_t nvmlDeviceGetMemoryBusWidth(nvmlDevice_t d, unsigned int *width) {
    if (unsupported(d, "bus")) return ERR_NOT_SUPPORTED;
    *width = d->bus;
    return OK;
}
#endif
nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t d, int type, unsigned int *clock) {
    if (unsupported(d, "clock")) return ERR_NOT_SUPPORTED;
    *clock = type == 2 ? d->mclk : 1980;
    return OK;
}
