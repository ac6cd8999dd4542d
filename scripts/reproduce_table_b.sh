#!/usr/bin/env bash
# Table (b) of the AutoVAE seed at the paper's printed setup (MLP 3x400, 20 latents, Adam 1e-4,
# batch 1000, 100 epochs, grey MNIST, BCE), written into results/table_b/<column>/seed_<n>/.
#
#   bash scripts/reproduce_table_b.sh [stage ...]
#   stages: fid lr rest seeds gap search auto table (default: all, in that order), precision converged timed
#           table_a table_c table_d table_e table_f table_g table_a_seeds seed1_a seed1_c seed1_d seed1_e seed1_f table_b_converged table_b_converged_seeds table_a_variance_half flows flows_seeds flows_binarized
#           search_a search_c search_d search_e search_f search_converged converged_all_train table_b_converged_slides
#           hebae_fig2 hebae_fig2_fid10k hebae_fig1_epochs hebae_fig1_lambda hebae_official renyi
#
# Every run writes its metrics.json when it finishes; re-running skips completed runs and resumes
# unfinished ones from their last checkpoint, so this can be stopped and started again at will.
# On a CPU machine two jobs of one thread each run at once (docs/sweeps.md, "Sweeps on a CPU box");
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
  $PY train.py -m "experiment=${EXPERIMENT:-table_b}" logger=csv $EVAL $LAUNCH $(into "$dir") "$@"
}

stage_fid()   { sweep results/table_b $FID column=N_N,Lo_N,E_N,C_C,G_G seed=0; }
stage_rest()  { sweep results/table_b $NOFID column=La_N,U_N,G_N,N_La,La_La,Lo_La,E_La,U_C seed=0; }
stage_seeds() { sweep results/table_b $NOFID column=N_N,La_N,Lo_N,E_N,C_C seed=1,2; }
stage_lr()    { sweep results/gap/lr_1e-3 $NOFID column=N_N seed=0 model.optimizer.lr=1e-3; }
one() {  # one <folder> <overrides...>: a single N||N run on one core, beside another one
  local dir=$1; shift
  LAUNCH="threads=1" sweep "$dir" $NOFID column=N_N seed=0 "$@"
}
stage_gap()   {  # each of the paper setup's suspects for N||N, one change at a time, two at once
  stage_lr
  { one results/gap/epochs_300 trainer.max_epochs=300
    EXPERIMENT=autovae_mnist_converged one results/gap/converged; } &
  { one results/gap/binarized dataset.binarize=dynamic
    one results/gap/batch_100 dataset.batch_size=100
    one results/gap/log_variance pairing.scale_param=log_variance
    one results/gap/xavier_init model.net.architecture.init=xavier; } &
  wait
}
# The Auto column: an Optuna study over irregular pairings (three pair types and their fractions) at
# a table's objective and likelihood, trials of SEARCH_EPOCHS epochs pruned by the median rule on
# val/elbo, two workers sharing one journal (results/search/table_<x>_auto.journal).
likelihood_option() {  # the conf/likelihood option of table <x>, from paper/tables.py
  $PY -c "import sys; from autovae.paper.tables import TABLES; print(TABLES[sys.argv[1]].likelihood_option)" "$1"
}
search_study() {  # search_study <x> [study name] [overrides...]
  local lik args x=$1 study=${2:-table_$1_auto}
  shift; [ $# -gt 0 ] && shift
  lik=$(likelihood_option "$x") || return 1
  args="experiment=table_$x callbacks=default logger=csv divergence=kl likelihood=$lik
    search.study_name=$study search.space.encoding=fractions search.n_trials=${SEARCH_TRIALS:-30}
    trainer.max_epochs=${SEARCH_EPOCHS:-20} paths.log_dir=results threads=1"
  # shellcheck disable=SC2086
  { $PY search.py $args "$@" & $PY search.py $args "$@" & wait; } > /dev/null
}
stage_search() { search_study b; }
# Tables (a), (c), (d), (e), (f): the study at the table's likelihood, then its best pairing at full
# length (seed 0) as the table's Auto column, and the table rendered again.
search_and_auto() {  # search_and_auto <x>
  search_study "$1" || return 1
  $PY scripts/search_report.py "search.study_name=table_$1_auto" paths.log_dir=results > /dev/null || return 1
  EXPERIMENT=table_$1 sweep "results/table_$1" $NOFID seed=0 \
    "hydra.searchpath=[file://$PWD/results/search/table_$1_auto/report]" column=searched
  $PY scripts/make_table.py "runs=results/table_$1" out=results "name=table_$1" > /dev/null
}
stage_search_a() { search_and_auto a; }
stage_search_c() { search_and_auto c; }
stage_search_d() { search_and_auto d; }
stage_search_e() { search_and_auto e; }
stage_search_f() { search_and_auto f; }
best_pairing() {  # the Auto study's best pairing, as pairing.components text
  $PY - <<'PY'
import optuna
from autovae.search.space import components_text
study = optuna.load_study(study_name="table_b_auto", storage=optuna.storages.JournalStorage(
    optuna.storages.journal.JournalFileBackend("results/search/table_b_auto.journal")))
print(components_text(study.best_trial.user_attrs["pairing"]))
PY
}
stage_auto() {
  local comps
  comps=$(best_pairing) || return 1
  echo "best pairing: $comps"
  sweep results/table_b $NOFID column=auto seed=0,1,2 "pairing.components=$comps"
}
# The precision study (docs/performance.md): the same runs in fp32 beside table (b)'s bf16 ones, two seeds each.
stage_precision() {
  sweep results/precision_fp32 $NOFID column=N_N,Lo_N,C_C seed=0,1 trainer.precision=32-true
}
# More seeds of the setup that closes the gap (batch 100; = experiment=autovae_mnist_converged).
stage_converged() { sweep results/gap/batch_100 $NOFID column=N_N seed=1,2 dataset.batch_size=100; }
# The wall-time target (docs/performance.md): the whole table (b) (13 fixed columns and Auto, the study's best pairing
# exported by search_report.py as column=searched) as ONE sweep of two 1-thread jobs, so the 14 runs
# pack into 7 pairs; seed 3, without FID, into its own folder, timed. (The first measurement ran Auto
# as a second sweep: results/timed_table_b/, 51.8 min.)
TIMED=results/timed_table_b_one_sweep
stage_timed() {
  local start
  $PY scripts/search_report.py search.study_name=table_b_auto paths.log_dir=results > /dev/null || return 1
  start=$(date +%s)
  sweep $TIMED $NOFID seed=3 "hydra.searchpath=[file://$PWD/results/search/table_b_auto/report]" \
    column=searched,N_N,Lo_N,E_N,C_C,G_G,La_N,U_N,G_N,N_La,La_La,Lo_La,E_La,U_C
  $PY - "$start" "$(date +%s)" "$LAUNCH" "$TIMED" <<'PY'
import json, sys
from autovae.runs.atomic import write_json_atomic
start, end, launch, folder = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
write_json_atomic(f"{folder}/wall.json", {"runs": 14, "launch": launch, "start_unix": start,
                  "end_unix": end, "wall_minutes": round((end - start) / 60, 1)})
PY
}
# Tables (a), (c), (d), (e), (f) (MSE, MAE, learned-variance normal, continuous Bernoulli, Beta) at the
# same printed setup, the 13 fixed columns, seed 0, each run computing its FID/KID (committed folders keep
# no weights to compute them later) (Auto needs a search of its own at each likelihood:
# the table (b) study searched under Bernoulli). `stage_table_a` ... `stage_table_f`.
FIXED13=N_N,Lo_N,La_N,E_N,C_C,G_G,U_N,G_N,N_La,La_La,Lo_La,E_La,U_C
printed_table() {  # printed_table <letter>: with FID/KID from 1,000 samples, half of the table's rows
  EXPERIMENT=table_$1 sweep results/table_$1 $FID seed=0 column=$FIXED13
  $PY scripts/make_table.py runs=results/table_$1 out=results name=table_$1 > /dev/null
}
# Seed 1 of a table's 13 columns with FID/KID: the second seed its claims need, and the FID rows of the
# tables whose seed 0 ran without FID ((c)-(f)). `stage_seed1_c` ... `stage_seed1_f`, `stage_seed1_a`.
seed1_table() {  # seed1_table <letter>
  EXPERIMENT=table_$1 sweep results/table_$1 $FID seed=1 column=$FIXED13
  $PY scripts/make_table.py runs=results/table_$1 out=results name=table_$1 > /dev/null
}
for x in a c d e f; do eval "stage_seed1_$x() { seed1_table $x; }"; done
stage_table_a() { printed_table a; }
# Seeds SEEDS (default 1,2) of the columns table (a)'s claims compare: Lo||N (the paper's best fixed
# column) and N||N (the best other in seed 0), with FID/KID as seed 0.
stage_table_a_seeds() {
  EXPERIMENT=table_a sweep results/table_a $FID "seed=${SEEDS:-1,2}" column=N_N,Lo_N
  $PY scripts/make_table.py runs=results/table_a out=results name=table_a > /dev/null
}
stage_table_c() { printed_table c; }
stage_table_d() { printed_table d; }
stage_table_e() { printed_table e; }
stage_table_f() { printed_table f; }
# Table (g): trained by IWAE with K = 50 (about 25x a table (b) step), so the columns whose claims differ
# most from table (b) come first (C||C: -98.1 in (g) against -203.4 in (b)), then the rest; FID/KID
# from 1,000 samples are computed by each run, since committed folders keep no weights to compute them later.
stage_table_g() {
  EXPERIMENT=table_g sweep results/table_g $FID seed=0 column=N_N,C_C,Lo_N,E_N,U_C
  EXPERIMENT=table_g sweep results/table_g $FID seed=0 column=$FIXED13  # the five above are skipped: completed
  $PY scripts/make_table.py runs=results/table_g out=results name=table_g > /dev/null
}
# Table (b) at the setup that converges (experiment=autovae_mnist_converged: batch 100, so 50,000 Adam
# steps instead of 5,000), all 14 columns in one sweep, seed 0, no FID: do the paper's claims hold
# where N||N reaches the paper's number? The columns the claims name come first, so they land first.
CONVERGED=results/table_b_converged
stage_table_b_converged() {
  $PY scripts/search_report.py search.study_name=table_b_auto paths.log_dir=results > /dev/null || return 1
  sweep $CONVERGED $NOFID seed=0 dataset.batch_size=100 \
    "hydra.searchpath=[file://$PWD/results/search/table_b_auto/report]" \
    column=N_N,Lo_N,La_N,E_N,C_C,searched,E_La,G_G,U_N,G_N,N_La,La_La,Lo_La,U_C
  $PY scripts/make_table.py runs=$CONVERGED out=results name=table_b_converged > /dev/null
}
# What the 10,000 held-out validation images cost at the converged setup: N||N trained on all 60,000
# (dataset.val_size=0; no validation curve, test bounds as usual), seed 0, into its own folder.
stage_converged_all_train() {
  one results/table_b_converged_all_train dataset.batch_size=100 dataset.val_size=0
}
# More seeds of the converged table's claim columns (SEEDS, default 1,2), so its claims are judged
# against seed noise in one folder; "searched" is the table (b) study's best pairing, as seed 0's Auto.
stage_table_b_converged_seeds() {
  $PY scripts/search_report.py search.study_name=table_b_auto paths.log_dir=results > /dev/null || return 1
  sweep $CONVERGED $NOFID "seed=${SEEDS:-1,2}" dataset.batch_size=100 \
    "hydra.searchpath=[file://$PWD/results/search/table_b_auto/report]" column=N_N,La_N,Lo_N,E_N,C_C,searched
  $PY scripts/make_table.py runs=$CONVERGED out=results name=table_b_converged > /dev/null
}
# The slides' own searched pairing (column=auto's default: 50% Lo||N, 30% La||N, 20% La||La) at the
# converged setup, seeds 0-2, in its own folder: the converged table's Auto column is the table (b)
# study's pairing, so this one is reported beside it (docs/reproduction.md), not in its place.
stage_table_b_converged_slides() {
  sweep results/table_b_converged_slides $NOFID "seed=0,1,2" dataset.batch_size=100 column=auto
}
# An Auto column searched at the converged setup itself (batch 100): trials of SEARCH_EPOCHS (default 10)
# epochs, as many Adam steps as a full run at the printed setup, pruned; the best pairing at full length,
# seeds 0-2, into results/table_b_converged_searched/ (the converged table's Auto so far is the printed
# setup's study's pairing, results/table_b_converged/searched/).
stage_search_converged() {
  SEARCH_EPOCHS=${SEARCH_EPOCHS:-10} search_study b table_b_converged_auto dataset.batch_size=100 || return 1
  $PY scripts/search_report.py search.study_name=table_b_converged_auto paths.log_dir=results > /dev/null || return 1
  sweep results/table_b_converged_searched $NOFID "seed=0,1,2" dataset.batch_size=100 \
    "hydra.searchpath=[file://$PWD/results/search/table_b_converged_auto/report]" column=searched
}
# Table (a) as the slides' text reads, with the normal's variance 1/2 (so that -log p is the summed
# squared error plus a constant) instead of the unit variance its printed bounds fit: the 13 fixed
# columns, seed 0, into results/table_a_variance_half/ (docs/tables.md, "Table (a)'s units").
stage_table_a_variance_half() {
  EXPERIMENT=table_a sweep results/table_a_variance_half $NOFID seed=0 column=$FIXED13 likelihood=mse
}
# The slides' "ELBO against the Renyi order" figure (docs/reproduction.md): N||N at table (b)'s
# printed setup trained by the Renyi bound of each order (K=5), seeds SEEDS (default 0); then every model's L_{alpha',50}
# on 500 test images over the orders alpha' of scripts/plots.py, into results/renyi/renyi.{png,json}.
stage_renyi() {
  # shellcheck disable=SC2086,SC2016
  $PY train.py -m experiment=table_b column=N_N logger=csv $EVAL $LAUNCH $NOFID "seed=${SEEDS:-0}" divergence=renyi \
    divergence.samples=5 'divergence.alpha=-inf,0,0.5,1,2' hydra.sweep.dir=results/renyi \
    'hydra.sweep.subdir=alpha_${divergence.alpha}/seed_${seed}'
  local runs=()
  for d in results/renyi/alpha_*/seed_*; do runs+=("run=$d"); done
  $PY scripts/plots.py renyi "${runs[@]}" out=results/renyi/renyi.png
}
stage_table() { $PY scripts/make_table.py runs=results/table_b out=results name=table_b > /dev/null; }

# The planar-flow study (docs/flows.md): K planar flows after N||N at the converged setup
# (batch 100), global flow parameters for every K and amortized ones for K = 8 and 32, seed 0, as two
# one-thread streams; folders results/flows/K_<K>-amortized_<bool>/seed_<n>.
# fp32 for every K: the first runs had no bf16 on their machine, and K must be the only difference.
flows() {  # flows <overrides...>: one stream of flow runs, one at a time
  # shellcheck disable=SC2086,SC2016
  $PY train.py -m experiment=autovae_mnist_converged model=flow logger=csv $EVAL $NOFID threads=1 trainer.precision=32-true \
    hydra.sweep.dir=results/flows 'hydra.sweep.subdir=K_${model.net.flows}-amortized_${model.net.amortized}/seed_${seed}' "$@"
}
# The cheap K first: a step costs about 1.5x more at K = 8 and several times more at K = 32 (docs/flows.md).
stage_flows() {
  { flows model.net.flows=0,2,4,16,32 model.net.amortized=false seed=0; } &
  { flows model.net.flows=8 model.net.amortized=true seed=0
    flows model.net.flows=8,1 model.net.amortized=false seed=0
    flows model.net.flows=32 model.net.amortized=true seed=0; } &
  wait
}
# The second seed for K = 0 and the best K (8, amortized).
stage_flows_seeds() {
  { flows model.net.flows=0 model.net.amortized=false seed=1; } &
  { flows model.net.flows=8 model.net.amortized=true seed=1; } &
  wait
}
# Rezende and Mohamed's direction: amortized planar flows on dynamically binarized MNIST (their
# -log p(x) ~ 85.1 nats with K = 80), the plain VAE beside it; folders results/flows_binarized/...
stage_flows_binarized() {
  # shellcheck disable=SC2016
  { flows dataset.binarize=dynamic model.net.flows=32 model.net.amortized=true seed=0 hydra.sweep.dir=results/flows_binarized; } &
  { flows dataset.binarize=dynamic model.net.flows=0 model.net.amortized=false seed=0 hydra.sweep.dir=results/flows_binarized; } &
  wait
}
# The HEBAE paper's MNIST experiments (docs/hebae.md) at its setup (experiment=hebae_mnist),
# into results/hebae/<figure>/...: Fig. 2 (k = 20, VAE/WAE/HEBAE, seeds 0-1, FID/KID from 1,000 samples),
# Fig. 1a top (k in {2, 5, 10, 20}) and bottom (lambda in {0.1, ..., 10}), and the authors' variant.
hebae() {  # hebae <folder> <subdir> <overrides...>
  local dir=$1 sub=$2; shift 2
  # shellcheck disable=SC2086
  $PY train.py -m logger=csv $EVAL $LAUNCH hydra.sweep.dir="$dir" hydra.sweep.subdir="$sub" "$@"
}
# shellcheck disable=SC2016
stage_hebae_fig2() { hebae results/hebae/fig2 '${hydra:runtime.choices.model}/seed_${seed}' experiment=hebae_fig2 $FID; }
# Fig. 2 again, each run recording its latent statistics (the index-code MIC/TIC) and FID/KID from
# 10,000 samples against the 10,000 test images (about 10 minutes a run with the fast exact extractor).
# shellcheck disable=SC2016
stage_hebae_fig2_fid10k() {
  hebae results/hebae/fig2_fid10k '${hydra:runtime.choices.model}/seed_${seed}' experiment=hebae_fig2 $FID \
    callbacks.fidelity.num_samples=10000
  $PY scripts/figures.py hebae_fig2 runs=results/hebae/fig2_fid10k out=results/hebae/fig2_fid10k/hebae_fig2.png
}
# Fig. 1a (top, then bottom) and the authors' variant for seeds SEEDS (default 0; SEEDS=1 adds the second
# seed their claims need).
# shellcheck disable=SC2016
stage_hebae_fig1_epochs() {
  hebae results/hebae/fig1_epochs '${hydra:runtime.choices.model}/k_${model.net.latent_dim}/seed_${seed}' \
    experiment=hebae_fig1_epochs $NOFID "seed=${SEEDS:-0}"
}
# shellcheck disable=SC2016
stage_hebae_fig1_lambda() {
  hebae results/hebae/fig1_lambda '${hydra:runtime.choices.model}/lambda_${divergence.beta}/seed_${seed}' \
    experiment=hebae_fig1_lambda $NOFID "seed=${SEEDS:-0}"
}
# shellcheck disable=SC2016
stage_hebae_official() {
  hebae results/hebae/official 'k_${model.net.latent_dim}/seed_${seed}' experiment=hebae_official \
    model.net.latent_dim=10,20 $NOFID "seed=${SEEDS:-0}"
}
# Committed evidence names the code that ran: refuse to start with uncommitted changes to tracked code
# (results/ is data and may change; ALLOW_DIRTY=1 runs anyway, and every run then records dirty: true).
require_clean_code() {
  local changes
  changes=$(git status --porcelain --untracked-files=no -- . ':(exclude)results')
  if [ -n "$changes" ] && [ "${ALLOW_DIRTY:-0}" != 1 ]; then
    echo "refusing to run: tracked code has uncommitted changes, so the runs could not name the code that ran" >&2
    echo "$changes" >&2
    echo "commit them (or run from a git worktree at a commit); ALLOW_DIRTY=1 runs anyway" >&2
    exit 2
  fi
}

require_clean_code
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(fid lr seeds rest gap search auto table)
for s in "${stages[@]}"; do
  echo "== stage $s ($(date -u +%H:%M:%S))"
  "stage_$s"
  [ -x scripts/commit_results.sh ] && [ -n "${COMMIT:-}" ] && bash scripts/commit_results.sh "Results: stage $s of table (b)"
done
