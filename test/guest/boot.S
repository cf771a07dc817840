/* Multiboot (v1) entry for the ferry test guest. QEMU's -kernel loader finds the header in the
 * first 8 KiB, enters in 32-bit protected mode with paging off, EAX = magic, EBX = info. */
.set MB_MAGIC, 0x1BADB002
.set MB_FLAGS, 0x00000003 /* page-align modules, ask for memory info */

.section .multiboot, "a"
.align 4
.long MB_MAGIC
.long MB_FLAGS
.long -(MB_MAGIC + MB_FLAGS)

.section .text
.global _start
_start:
  cli
  mov $stack_top, %esp
  push %ebx
  push %eax
  call kmain
halt:
  hlt
  jmp halt

.section .bss
.align 16
stack_bottom:
  .skip 65536
stack_top:
.section .note.GNU-stack,"",@progbits
