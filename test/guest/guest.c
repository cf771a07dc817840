/*
 * ferry test guest: a multiboot kernel that fills N MiB with a known pattern, then dirties pages
 * at a set rate while checking, over and over, that each page still holds what it last wrote.
 * A live migration that loses or reorders a page write shows up as a CORRUPT line on COM1.
 *
 * Parameters come from -append: mib=N (region size, MiB), rate=R (MiB/s dirtied) or
 * ratekib=K (KiB/s, finer), report=MS (ms between progress lines, default 500).
 * Page p written for the g-th time holds word w = pattern(p, g, w); the per-page generation g
 * lives in gen[] (guest memory too, so it migrates with the pages it describes).
 *
 * Timing: the TSC is calibrated against the PIT (1.193182 MHz) at boot. Under TCG the guest's
 * TSC follows the host's, so the dirty rate is real time while the vCPU runs; a guest starved of
 * host CPU or throttled dirties less than asked (each progress line reports the rate achieved).
 */
typedef unsigned int u32;
typedef unsigned long long u64;

#define PAGE 4096u
#define WORDS (PAGE / 4u)
#define REGION_BASE (4u << 20)
#define MAX_MIB 512u
#define MAX_PAGES (MAX_MIB * 256u)
#define MAX_REPORTS 16u

static u32 gen[MAX_PAGES];

static inline void outb(unsigned short port, unsigned char v) {
  __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline unsigned char inb(unsigned short port) {
  unsigned char v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline u64 rdtsc(void) {
  u32 lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((u64)hi << 32) | lo;
}

/* ---- COM1 ---------------------------------------------------------------------------------- */
#define COM1 0x3F8
static void serial_init(void) {
  outb(COM1 + 1, 0x00); /* no interrupts */
  outb(COM1 + 3, 0x80); /* DLAB */
  outb(COM1 + 0, 0x01); /* 115200 baud */
  outb(COM1 + 1, 0x00);
  outb(COM1 + 3, 0x03); /* 8N1 */
  outb(COM1 + 2, 0xC7); /* FIFO */
}
static void putc(char c) {
  while ((inb(COM1 + 5) & 0x20) == 0) {
  }
  outb(COM1, (unsigned char)c);
}
static void puts(const char *s) {
  while (*s) putc(*s++);
}
static void putu(u32 v) {
  char buf[11];
  int i = 0;
  do {
    buf[i++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (i) putc(buf[--i]);
}
static void putx(u32 v) {
  puts("0x");
  for (int s = 28; s >= 0; s -= 4) putc("0123456789abcdef"[(v >> s) & 15]);
}
static void field(const char *name, u32 v) {
  putc(' ');
  puts(name);
  putc('=');
  putu(v);
}

/* ---- command line -------------------------------------------------------------------------- */
/* Value of the word `key=N` in the command line, or `fallback`. */
static u32 param(const char *cmdline, const char *key, u32 fallback) {
  const char *s = cmdline;
  while (*s) {
    while (*s == ' ') s++;
    const char *k = key;
    const char *t = s;
    while (*k && *t == *k) t++, k++;
    if (*k == 0 && *t == '=' && t[1] >= '0' && t[1] <= '9') {
      u32 n = 0;
      for (t++; *t >= '0' && *t <= '9'; t++) n = n * 10 + (u32)(*t - '0');
      return n;
    }
    while (*s && *s != ' ') s++;
  }
  return fallback;
}

/* ---- time ---------------------------------------------------------------------------------- */
#define PIT_HZ 1193182u
static u32 pit_read(void) {
  outb(0x43, 0x00); /* latch channel 0 */
  u32 lo = inb(0x40);
  u32 hi = inb(0x40);
  return (hi << 8) | lo;
}
/* TSC ticks per second, measured over ~100 ms of PIT time (channel 0, mode 2, full reload). */
static u64 calibrate_tsc(void) {
  outb(0x43, 0x34);
  outb(0x40, 0);
  outb(0x40, 0);
  u32 last = pit_read();
  u64 t0 = rdtsc();
  u32 elapsed = 0;
  while (elapsed < PIT_HZ / 10) {
    u32 now = pit_read();
    elapsed += (last - now) & 0xFFFFu; /* counts down, wraps at 65536 */
    last = now;
  }
  u64 t1 = rdtsc();
  return (t1 - t0) * PIT_HZ / elapsed;
}

/* ---- pages --------------------------------------------------------------------------------- */
static inline u32 *page_at(u32 p) { return (u32 *)(REGION_BASE + p * PAGE); }
static inline u32 pattern_base(u32 p, u32 g) { return (p * 0x9E3779B1u) ^ (g * 0x85EBCA77u) ^ 0x5bd1e995u; }

static void write_page(u32 p) {
  u32 g = ++gen[p];
  u32 base = pattern_base(p, g);
  u32 *w = page_at(p);
  for (u32 i = 0; i < WORDS; i++) w[i] = base ^ (i * 0xC2B2AE3Du);
}

static u32 reports;
static u32 errors;

/* Checks one page against its generation; reports the first bad word and re-writes the page. */
static void verify_page(u32 p) {
  u32 g = gen[p];
  u32 base = pattern_base(p, g);
  u32 *w = page_at(p);
  for (u32 i = 0; i < WORDS; i++) {
    u32 want = base ^ (i * 0xC2B2AE3Du);
    if (w[i] != want) {
      errors++;
      if (reports < MAX_REPORTS) {
        reports++;
        puts("ferry-guest CORRUPT");
        field("page", p);
        field("word", i);
        field("gen", g);
        puts(" got=");
        putx(w[i]);
        puts(" want=");
        putx(want);
        putc('\n');
      }
      write_page(p); /* start this page afresh so one fault is counted once */
      return;
    }
  }
}

void kmain(u32 magic, u32 *info) {
  serial_init();
  const char *cmdline = "";
  u32 mem_upper_kib = 0;
  if (magic == 0x2BADB002u) {
    if (info[0] & 1u) mem_upper_kib = info[2];
    if (info[0] & 4u) cmdline = (const char *)info[4];
  }
  u32 mib = param(cmdline, "mib", 32);
  u32 rate_kib = param(cmdline, "ratekib", param(cmdline, "rate", 10) * 1024u);
  u32 report_ms = param(cmdline, "report", 500);
  if (mib == 0) mib = 1;
  if (mib > MAX_MIB) mib = MAX_MIB;
  u32 available_mib = mem_upper_kib / 1024u + 1u - (REGION_BASE >> 20);
  if (mem_upper_kib && mib > available_mib) {
    puts("ferry-guest ERROR not enough memory");
    field("mib", mib);
    field("available", available_mib);
    putc('\n');
    for (;;) __asm__ volatile("hlt");
  }
  u32 pages = mib * 256u;
  u64 tsc_hz = calibrate_tsc();
  puts("ferry-guest boot");
  field("mib", mib);
  field("ratekib", rate_kib);
  field("tsc_mhz", (u32)(tsc_hz / 1000000u));
  putc('\n');

  for (u32 p = 0; p < pages; p++) {
    gen[p] = 0;
    write_page(p);
  }
  puts("ferry-guest filled");
  field("pages", pages);
  putc('\n');

  /* Elapsed time in TSC ticks, counting only time this vCPU ran: a gap longer than 1 ms between
   * two loop iterations (one takes microseconds) is time the CPU was taken away (auto-converge's
   * throttle, host contention, a migration's stop) and is not credited. So, like a real workload,
   * the guest dirties in proportion to the CPU it gets; a TSC jump across a migration is harmless. */
  u64 max_step = tsc_hz / 1000u;
  u64 elapsed = 0;
  /* Wall time (gaps up to a second counted), for the dirty rate as the host sees it. */
  u64 wall = 0;
  u64 last = rdtsc();
  u64 pages_per_s = (u64)rate_kib / 4u;
  u64 report_ticks = tsc_hz * report_ms / 1000u;
  u64 report_wall = 0;
  u64 report_dirtied = 0;
  u64 dirtied = 0;
  u32 dcur = 0;
  u32 vcur = 0;
  u32 pass = 0;
  for (;;) {
    u64 now = rdtsc();
    u64 step = now - last;
    last = now;
    if ((long long)step < 0) step = 0;
    wall += step > tsc_hz ? tsc_hz : step;
    if (step > max_step) step = max_step;
    elapsed += step;

    /* Pages are dirtied in order, so a pass of T seconds dirties rate*T distinct pages. */
    u64 target = elapsed * pages_per_s / tsc_hz;
    /* A guest that cannot keep up drops the backlog beyond a quarter second instead of bursting. */
    if (target > dirtied + pages_per_s / 4u + 1u) dirtied = target - pages_per_s / 4u - 1u;
    for (u32 burst = 0; dirtied < target && burst < 64u; burst++, dirtied++) {
      write_page(dcur);
      dcur = dcur + 1u == pages ? 0u : dcur + 1u;
    }

    for (u32 k = 0; k < 16u; k++) {
      verify_page(vcur);
      if (++vcur == pages) {
        vcur = 0;
        pass++;
      }
    }

    /* Progress every report_ms of wall time: whole-region checks so far, corruptions, CPU time
     * credited, and the dirty rate achieved per wall-clock second. */
    if (wall - report_wall >= report_ticks) {
      u32 ms = (u32)((wall - report_wall) * 1000u / tsc_hz);
      u32 dp = (u32)(dirtied - report_dirtied);
      puts("ferry-guest progress");
      field("passes", pass);
      field("errors", errors);
      field("t_ms", (u32)(elapsed * 1000u / tsc_hz));
      field("ratekib", ms ? (u32)((u64)dp * 4000u / ms) : 0u);
      putc('\n');
      report_wall = wall;
      report_dirtied = dirtied;
    }
  }
}
