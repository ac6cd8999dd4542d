#!/usr/bin/env bash
# Table (b) of the AutoVAE seed at the paper's printed setup (MLP 3x400, 20 latents, Adam 1e-4,
# batch 1000, 100 epochs, grey MNIST, BCE), written into results/table_b/<column>/seed_<n>/.
#
#   bash scripts/reproduce_table_b.sh [stage ...]     # stages: fid lr rest seeds gap table (default: all)
#
# Every run writes its metrics.json when it finishes; re-running skips completed runs and resumes
# unfinished ones from their last checkpoint, so this can be stopped and started again at will.
# On a CPU machine two jobs of one thread each run at once (README, "Sweeps on a CPU box");
# set LAUNCH="" to run one job at a time, or LAUNCH="hydra/launcher=ray_gpu trainer=gpu" on GPUs.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
LAUNCH=${LAUNCH-"hydra/launcher=joblib_cpu hydra.launcher.n_jobs=2 threads=1"}
WEIGHTS=${AUTOVAE_INCEPTION_WEIGHTS:-$(cd .. && pwd)/shared/weights/inception-v3-compat-fid-only.pth}
EVAL="evaluation.nll_samples=5000 evaluation.nll_images=1000"
FID="callbacks=fidelity callbacks.fidelity.num_samples=1000 callbacks.fidelity.isc=false callbacks.fidelity.feature_extractor_weights_path=$WEIGHTS"
NOFID="callbacks=default"
# shellcheck disable=SC2016
into() { echo "hydra.sweep.dir=$1" 'hydra.sweep.subdir=${hydra:runtime.choices.column}/seed_${seed}'; }

sweep() {  # sweep <folder> <overrides...>
  local dir=$1; shift
  # shellcheck disable=SC2046,SC2086
  $PY train.py -m experiment=table_b logger=csv $EVAL $LAUNCH $(into "$dir") "$@"
}

stage_fid()   { sweep results/table_b $FID column=N_N,Lo_N,E_N,C_C,G_G seed=0; }
stage_rest()  { sweep results/table_b $NOFID column=La_N,U_N,G_N,N_La,La_La,Lo_La,E_La,U_C seed=0; }
stage_seeds() { sweep results/table_b $NOFID column=N_N,La_N,Lo_N,E_N,C_C seed=1,2; }
stage_lr()    { sweep results/gap/lr_1e-3 $NOFID column=N_N seed=0 model.optimizer.lr=1e-3; }
stage_gap()   {  # each of the paper setup's suspects for N||N, one change at a time
  stage_lr
  sweep results/gap/epochs_300 $NOFID column=N_N seed=0 trainer.max_epochs=300
  sweep results/gap/binarized $NOFID column=N_N seed=0 dataset.binarize=dynamic
  sweep results/gap/batch_100 $NOFID column=N_N seed=0 dataset.batch_size=100
  sweep results/gap/log_variance $NOFID column=N_N seed=0 pairing.scale_param=log_variance
  sweep results/gap/xavier_init $NOFID column=N_N seed=0 model.architecture.init=xavier
}
stage_table() { $PY scripts/make_table.py runs=results/table_b out=results name=table_b > /dev/null; }

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(fid lr rest seeds gap table)
for s in "${stages[@]}"; do
  echo "== stage $s ($(date -u +%H:%M:%S))"
  "stage_$s"
  [ -x scripts/commit_results.sh ] && [ -n "${COMMIT:-}" ] && bash scripts/commit_results.sh "Results: stage $s of table (b)"
done
