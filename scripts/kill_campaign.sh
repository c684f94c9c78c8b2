#!/usr/bin/env bash
# kill -9 campaign: does a training run killed at a random moment always leave a loadable
# checkpoint or none, and does the next run leave no temporary files behind?
#
#   scripts/kill_campaign.sh [KILLS=30] [BINARY=target/release/shadergan]
#
# One run directory is trained with a checkpoint every step and killed with SIGKILL after a
# random 0.05–2.5 s (so kills land in start-up, data loading, steps and checkpoint writes).
# After each kill: every model file present must load (`sample` from checkpoint.safetensors,
# generator.safetensors; `--resume` loads the full state), and the next run — a resume, or a
# fresh start with --overwrite when no checkpoint was written yet — continues. At the end one
# run completes and the directory must hold no `.*.tmp` or `.write-test.*` file.
set -uo pipefail
kills=${1:-30}
bin=${2:-target/release/shadergan}
dir=$(mktemp -d)/run
tiny=(--image-size 16 --ngf 8 --ndf 8 --nz 16 --batch-size 8 --synthetic-images 64 --log-every 1 --checkpoint-every 1 --sample-every 5)
failures=0
with_checkpoint=0
for i in $(seq 1 "$kills"); do
    if [ -f "$dir/checkpoint.safetensors" ]; then
        args=(train --resume "$dir" --steps 1000000)
    else
        args=(train --out "$dir" --overwrite --steps 1000000 "${tiny[@]}")
    fi
    "$bin" "${args[@]}" >/dev/null 2>"$dir.stderr" &
    pid=$!
    sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.3f", 0.05 + 2.45 * r / 32767 }')"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    status=$?
    if grep -q '^error: ' "$dir.stderr"; then
        echo "kill $i: the run failed before the kill: $(grep '^error: ' "$dir.stderr")"
        failures=$((failures + 1))
    fi
    step="none"
    if [ -f "$dir/checkpoint.safetensors" ]; then
        with_checkpoint=$((with_checkpoint + 1))
        for f in checkpoint generator; do
            if ! "$bin" sample --checkpoint "$dir/$f.safetensors" --n 2 --out "$dir.check.png" >/dev/null 2>"$dir.sample.stderr"; then
                echo "kill $i: $f.safetensors does not load: $(grep '^error: ' "$dir.sample.stderr")"
                failures=$((failures + 1))
            fi
        done
        step=$(grep -ao '"step":"[0-9]*"' "$dir/checkpoint.safetensors" | head -1 | grep -o '[0-9]*')
    fi
    leftovers=$(find "$(dirname "$dir")" -name '.*.tmp' -o -name '.write-test.*' | wc -l)
    echo "kill $i: status $status, checkpoint at step $step, $leftovers temporary files left by the kill"
done
# The next run cleans up after the last kill.
if [ -f "$dir/checkpoint.safetensors" ]; then
    last=$(grep -ao '"step":"[0-9]*"' "$dir/checkpoint.safetensors" | head -1 | grep -o '[0-9]*')
    final=(train --resume "$dir" --steps $((last + 2)))
else
    final=(train --out "$dir" --overwrite --steps 2 "${tiny[@]}")
fi
"$bin" "${final[@]}" >/dev/null 2>"$dir.stderr" || {
    echo "final run failed: $(grep '^error: ' "$dir.stderr")"
    failures=$((failures + 1))
}
leftovers=$(find "$(dirname "$dir")" -name '.*.tmp' -o -name '.write-test.*')
if [ -n "$leftovers" ]; then
    echo "left after the next run: $leftovers"
    failures=$((failures + 1))
fi
echo "$kills kills, $with_checkpoint with a checkpoint present, $failures failures"
[ "$failures" = 0 ]
