#!/bin/bash
# Times the one-pass sidecar engine (internal/imagehash) against md5sum alone and against
# the classic pipeline it replaces (md5sum; tail | md5sum; ctorrent -t), on a file of random
# data in the page cache, and reports the engine's peak RSS.
#
# Environment:
#   BENCH_SIZE_MIB  size of the test file in MiB (default 1024)
#   BENCH_RUNS      runs of each contender; the median is kept (default 5)
#   BENCH_BIN       an ogrepository binary; the engine then runs as
#                   "$BENCH_BIN torrentsum --root DIR IMAGE". Without it, bench/hashing is built
#                   and run instead.
# Exits non-zero when a contender fails or a target is missed: engine/md5sum <= 1.10,
# engine/pipeline <= 0.45, peak RSS <= 64 MiB. The engine needs two cores to itself; on a
# machine busy with other work its figures suffer more than md5sum's.
set -euo pipefail

size_mib=${BENCH_SIZE_MIB:-1024}
runs=${BENCH_RUNS:-5}
announce=http://127.0.0.1:6969/announce
repo_root=$(cd "$(dirname "$0")/.." && pwd)

for tool in md5sum tail ctorrent awk; do
	command -v "$tool" >/dev/null || { echo "hashing.sh: $tool is required" >&2; exit 2; }
done
if [ ! -x /usr/bin/time ]; then
	if ! apt-get install -y time >/dev/null; then
		apt-get update >/dev/null && apt-get install -y time >/dev/null
	fi
fi

work=$(mktemp -d /tmp/ogrepository-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
mkdir -p "$work/images"
image=bench.img
file=$work/images/$image

if [ -n "${BENCH_BIN:-}" ]; then
	# torrentsum wants a whole repository tree and a configuration that passes its checks.
	mkdir -p "$work/etc" "$work/images_trash" "$work/images_virtual" "$work/log"
	token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	printf 'IPlocal=127.0.0.1\nIPcore=127.0.0.1\nApiToken=%s\n' "$token" >"$work/etc/ogAdmRepo.cfg"
	engine=("$BENCH_BIN" torrentsum --root "$work" "$image")
	engine_name="$BENCH_BIN torrentsum"
else
	(cd "$repo_root" && go build -o "$work/hashing" ./bench/hashing)
	engine=("$work/hashing" "$file")
	engine_name="bench/hashing (imagehash.Compute)"
fi

echo "making $size_mib MiB of random data in $work"
head -c "$((size_mib << 20))" /dev/urandom >"$file"
cat "$file" >/dev/null

# seconds CMD... runs CMD with its output discarded and prints its wall time in seconds; if
# CMD fails, it shows CMD's errors and fails too, which ends the script.
seconds() {
	local TIMEFORMAT=%R
	if ! { time "$@" >/dev/null 2>"$work/stderr.txt"; } 2>&1; then
		echo "hashing.sh: $* failed:" >&2
		cat "$work/stderr.txt" "$work/time.txt" >&2 2>/dev/null
		return 1
	fi
}

engine_run() {
	/usr/bin/time -v -o "$work/time.txt" "${engine[@]}"
}

pipeline_run() {
	rm -f "$work/out.torrent"
	md5sum "$file"
	tail -c 1048576 "$file" | md5sum
	ctorrent -t -l 4194304 -u "$announce" -s "$work/out.torrent" "$file"
}

md5sum_run() {
	md5sum "$file"
}

# median prints the middle of its arguments, numerically.
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

declare -a t_engine t_md5 t_pipe rss
for ((i = 1; i <= runs; i++)); do
	t_engine+=("$(seconds engine_run)")
	rss+=("$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/time.txt")")
	t_md5+=("$(seconds md5sum_run)")
	t_pipe+=("$(seconds pipeline_run)")
	echo "run $i: engine ${t_engine[-1]} s, md5sum ${t_md5[-1]} s, pipeline ${t_pipe[-1]} s," \
		"engine RSS ${rss[-1]} KiB"
done

e=$(median "${t_engine[@]}")
a=$(median "${t_md5[@]}")
b=$(median "${t_pipe[@]}")
e_min=$(printf '%s\n' "${t_engine[@]}" | sort -g | head -1)
a_min=$(printf '%s\n' "${t_md5[@]}" | sort -g | head -1)
b_min=$(printf '%s\n' "${t_pipe[@]}" | sort -g | head -1)
peak=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)

awk -v e="$e" -v a="$a" -v b="$b" -v em="$e_min" -v am="$a_min" -v bm="$b_min" \
	-v peak="$peak" -v mib="$size_mib" -v name="$engine_name" '
BEGIN {
	ra = e / a; rb = e / b; rss = peak / 1024
	printf "engine:   %s\n", name
	printf "file:     %d MiB; median (best) of the runs\n", mib
	printf "(0) engine                %6.3f s (%6.3f)  %6.1f MiB/s\n", e, em, mib / e
	printf "(a) md5sum                %6.3f s (%6.3f)\n", a, am
	printf "(b) md5sum+tail+ctorrent  %6.3f s (%6.3f)\n", b, bm
	printf "best-run ratios, for a loaded machine: (a) %.3f, (b) %.3f\n", em / am, em / bm
	printf "engine/(a) = %.3f  (target <= 1.10) %s\n", ra, ra <= 1.10 ? "ok" : "MISSED"
	printf "engine/(b) = %.3f  (target <= 0.45) %s\n", rb, rb <= 0.45 ? "ok" : "MISSED"
	printf "engine peak RSS = %.1f MiB (target <= 64) %s\n", rss, rss <= 64 ? "ok" : "MISSED"
	exit (ra <= 1.10 && rb <= 0.45 && rss <= 64) ? 0 : 1
}'
