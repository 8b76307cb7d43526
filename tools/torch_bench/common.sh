# Sourced by compare.sh and compare_train.sh (which set $here): the repository root, the Python
# to run PyTorch with ($PYTHON, default python3), and the `stylegan` binary to time ($sg, built
# here). With AVX2=1 both programs are capped to AVX2: ours with STYLEGAN_CPU_ISA=avx2 (a
# default build's GEMMs use AVX2+FMA at most anyway, see the `gemm-avx512` feature), PyTorch
# with ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2.
root="$(cd "$here/../.." && pwd)"
py="${PYTHON:-python3}"
cargo build -q --manifest-path "$root/Cargo.toml" -p stylegan-cli
sg="$root/target/debug/stylegan"
if [ "${AVX2:-0}" = 1 ]; then
  export STYLEGAN_CPU_ISA=avx2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
fi
