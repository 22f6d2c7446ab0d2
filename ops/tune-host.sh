#!/usr/bin/env bash
# Prepare a host for tripwire's pinned hot path: isolate its cores from the scheduler, timer
# ticks, RCU callbacks and device interrupts, and run every core at full clock.
#
#   ops/tune-host.sh [--dry-run | --apply] [--cpus 2,3]
#
# --dry-run (the default) prints what it would change and changes nothing; it needs no root.
# --apply makes the changes (root). IRQ affinity and the governor apply at once (and last until
# reboot; run it from a boot-time unit to keep them); isolcpus/nohz_full/rcu_nocbs go on the
# kernel command line and take effect at the next boot.
#
# --cpus must match the hot path's unit (ops/systemd/tripwire-hotpath.service: --cpus and
# CPUAffinity=). Every other core is "housekeeping": it keeps the IRQs, the other services and
# the kernel's own work. At least one core must stay housekeeping.
set -euo pipefail

MODE=dry-run
CPUS="2,3"
SYSFS="${TUNE_HOST_SYSFS:-/sys}"     # overridable so the script can be tested on a fake tree
PROCFS="${TUNE_HOST_PROCFS:-/proc}"
# (TUNE_HOST_NCPU overrides the core count, for the same tests)
GRUB_DEFAULT="${TUNE_HOST_GRUB:-/etc/default/grub}"

usage() {
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
}

die() { echo "tune-host: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --dry-run) MODE=dry-run ;;
        --apply) MODE=apply ;;
        --cpus) [[ $# -ge 2 ]] || die "--cpus needs a value such as 2,3 or 2-3"; CPUS="$2"; shift ;;
        --cpus=*) CPUS="${1#--cpus=}" ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done

# -- the core sets --------------------------------------------------------------------------

expand_cpus() {  # "0-2,5" -> "0 1 2 5"; dies on anything else
    local part lo hi out=()
    [[ "$1" =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]] || die "--cpus '$1': expected core numbers and ranges such as 2,3 or 2-3"
    IFS=, read -ra parts <<< "$1"
    for part in "${parts[@]}"; do
        lo="${part%-*}"; hi="${part#*-}"
        (( lo <= hi )) || die "--cpus '$1': range '$part' must be LOW-HIGH"
        for ((c = lo; c <= hi; c++)); do out+=("$c"); done
    done
    echo "${out[@]}"
}

NCPU="${TUNE_HOST_NCPU:-$(getconf _NPROCESSORS_CONF)}"
HOT_WORDS=$(expand_cpus "$CPUS") || exit 2   # (a die inside $(...) only ends the subshell)
read -ra HOT <<< "$HOT_WORDS"
for c in "${HOT[@]}"; do
    (( c < NCPU )) || die "core $c does not exist: this machine has $NCPU cores (0-$((NCPU - 1)))"
done
HOUSE=()
for ((c = 0; c < NCPU; c++)); do
    [[ " ${HOT[*]} " == *" $c "* ]] || HOUSE+=("$c")
done
(( ${#HOUSE[@]} > 0 )) || die "--cpus '$CPUS' takes every core; leave at least one for housekeeping (IRQs, other services)"

join() { local IFS=,; echo "$*"; }
HOT_LIST=$(join "${HOT[@]}")
HOUSE_LIST=$(join "${HOUSE[@]}")

if [[ "$MODE" == apply && "$(id -u)" != 0 ]]; then
    die "--apply needs root (try: sudo $0 --apply --cpus $CPUS); --dry-run shows what it would do"
fi

say() { echo "$*"; }
would() { if [[ "$MODE" == apply ]]; then echo "  set: $*"; else echo "  would set: $*"; fi; }
CHANGES=0

say "tripwire host tuning ($MODE): hot-path cores $HOT_LIST, housekeeping cores $HOUSE_LIST of $NCPU"

# -- 1. kernel command line: isolcpus, nohz_full, rcu_nocbs -------------------------------
# isolcpus keeps the scheduler from placing other tasks there (managed_irq: also managed
# device IRQs); nohz_full stops the periodic tick while one task runs; rcu_nocbs moves RCU
# callbacks to housekeeping cores. All three need a reboot.
say ""
say "kernel command line (next boot):"
WANT=("isolcpus=managed_irq,domain,$HOT_LIST" "nohz_full=$HOT_LIST" "rcu_nocbs=$HOT_LIST")
CURRENT_CMDLINE=$(cat "$PROCFS/cmdline" 2>/dev/null || true)
MISSING=()
for arg in "${WANT[@]}"; do
    if [[ " $CURRENT_CMDLINE " == *" $arg "* ]]; then
        say "  already booted with $arg"
    else
        MISSING+=("$arg")
    fi
done
if (( ${#MISSING[@]} )); then
    if [[ -f "$GRUB_DEFAULT" ]]; then
        LINE=$(grep -E '^GRUB_CMDLINE_LINUX_DEFAULT=' "$GRUB_DEFAULT" || echo 'GRUB_CMDLINE_LINUX_DEFAULT=""')
        VALUE=$(sed -E 's/^GRUB_CMDLINE_LINUX_DEFAULT="?([^"]*)"?$/\1/' <<< "$LINE")
        for arg in "${WANT[@]}"; do  # replace an earlier value of the same parameter
            VALUE=$(sed -E "s/(^| )${arg%%=*}=[^ ]*//g" <<< "$VALUE")
        done
        NEW="GRUB_CMDLINE_LINUX_DEFAULT=\"$(echo "$VALUE ${WANT[*]}" | xargs)\""
        would "$GRUB_DEFAULT: $NEW"
        CHANGES=$((CHANGES + 1))
        if [[ "$MODE" == apply ]]; then
            cp -p "$GRUB_DEFAULT" "$GRUB_DEFAULT.tripwire.bak"
            if grep -qE '^GRUB_CMDLINE_LINUX_DEFAULT=' "$GRUB_DEFAULT"; then
                sed -i -E "s|^GRUB_CMDLINE_LINUX_DEFAULT=.*|$NEW|" "$GRUB_DEFAULT"
            else
                echo "$NEW" >> "$GRUB_DEFAULT"
            fi
            if command -v update-grub >/dev/null; then update-grub
            elif command -v grub2-mkconfig >/dev/null; then grub2-mkconfig -o /boot/grub2/grub.cfg
            else say "  no update-grub or grub2-mkconfig found: regenerate the boot config yourself"; fi
            say "  (backup: $GRUB_DEFAULT.tripwire.bak; reboot to take effect)"
        fi
    else
        would "kernel parameters ${MISSING[*]} (no $GRUB_DEFAULT here: add them with your boot loader's tool, e.g. grubby --update-kernel=ALL --args=\"${MISSING[*]}\")"
        CHANGES=$((CHANGES + 1))
    fi
fi

# -- 2. IRQ affinity: every interrupt to the housekeeping cores ----------------------------
# irqbalance would move them back, so it is told to keep off the hot-path cores too.
say ""
say "interrupts (now, until reboot):"
MOVED=0; FIXED=0
for f in "$PROCFS"/irq/*/smp_affinity_list; do
    [[ -e "$f" ]] || continue
    cur=$(cat "$f" 2>/dev/null || echo "?")
    [[ "$cur" == "$HOUSE_LIST" ]] && continue
    MOVED=$((MOVED + 1))
    if [[ "$MODE" == apply ]]; then
        # some IRQs (per-CPU timers, managed queues) refuse a new affinity: count, don't fail
        echo "$HOUSE_LIST" > "$f" 2>/dev/null || FIXED=$((FIXED + 1))
    fi
done
if [[ -e "$PROCFS/irq/default_smp_affinity" ]]; then
    would "$PROCFS/irq/default_smp_affinity → cores $HOUSE_LIST (new IRQs)"
    if [[ "$MODE" == apply ]]; then
        MASK=0; for c in "${HOUSE[@]}"; do MASK=$((MASK | (1 << c))); done
        printf '%x\n' "$MASK" > "$PROCFS/irq/default_smp_affinity" || say "  could not set default_smp_affinity"
    fi
    CHANGES=$((CHANGES + 1))
fi
if (( MOVED )); then
    would "$MOVED IRQs' smp_affinity_list → $HOUSE_LIST"
    (( FIXED )) && say "  $FIXED IRQs refused a new affinity (per-CPU or kernel-managed): left as they are"
    CHANGES=$((CHANGES + 1))
else
    say "  every IRQ already on cores $HOUSE_LIST (or none visible)"
fi
if command -v systemctl >/dev/null && systemctl is-enabled irqbalance >/dev/null 2>&1; then
    would "/etc/default/irqbalance: IRQBALANCE_BANNED_CPULIST=$HOT_LIST, then restart irqbalance"
    if [[ "$MODE" == apply ]]; then
        sed -i '/^IRQBALANCE_BANNED_CPULIST=/d' /etc/default/irqbalance 2>/dev/null || true
        echo "IRQBALANCE_BANNED_CPULIST=$HOT_LIST" >> /etc/default/irqbalance
        systemctl restart irqbalance || say "  could not restart irqbalance"
    fi
    CHANGES=$((CHANGES + 1))
fi

# -- 3. CPU frequency governor: performance on every core ----------------------------------
# A core idling at a low clock takes tens of µs to ramp up when a burst arrives.
say ""
say "cpu frequency governor (now, until reboot):"
GOVS=("$SYSFS"/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor)
if [[ ! -e "${GOVS[0]}" ]]; then
    say "  no cpufreq interface (a virtual machine, or the driver controls the clock): nothing to set"
else
    for g in "${GOVS[@]}"; do
        cur=$(cat "$g")
        cpu=$(basename "$(dirname "$(dirname "$g")")")
        if [[ "$cur" == performance ]]; then
            say "  $cpu already performance"
            continue
        fi
        would "$cpu governor $cur → performance"
        CHANGES=$((CHANGES + 1))
        [[ "$MODE" == apply ]] && { echo performance > "$g" || say "  $cpu refused the governor"; }
    done
fi

say ""
if [[ "$MODE" == apply ]]; then
    say "applied $CHANGES change(s); reboot for the kernel command line."
else
    say "dry run: $CHANGES change(s) listed, nothing changed. Run with --apply as root to make them."
fi
