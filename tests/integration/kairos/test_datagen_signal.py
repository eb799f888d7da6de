"""The generator's purchase signal is learnable from past behaviour, but not trivially."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from kairos.datagen import generate
from kairos.landing import LocalLanding

START = datetime(2026, 10, 1, tzinfo=UTC)
TYPES = (
    "page_view",
    "product_view",
    "add_to_cart",
    "cart_abandoned",
    "checkout_started",
    "purchase",
    "email_open",
    "email_click",
)


def _features(events: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    past = events[events["at"] <= as_of]
    week = past[past["at"] > as_of - pd.Timedelta(days=7)]
    out = pd.DataFrame(index=pd.Index(events["customer"].unique(), name="customer"))
    for kind in TYPES:
        out[f"{kind}_7d"] = week[week["type"] == kind].groupby("customer").size()
        out[f"{kind}_all"] = past[past["type"] == kind].groupby("customer").size()
    out["recency_days"] = (as_of - past.groupby("customer")["at"].max()).dt.total_seconds() / 86400
    future = events[(events["at"] > as_of) & (events["at"] <= as_of + pd.Timedelta(days=7))]
    buyers = future[future["type"] == "purchase"]["customer"]
    out["label"] = out.index.isin(buyers).astype(int)
    return out.fillna(0)


def test_time_based_holdout_auc_is_well_above_chance(tmp_path: Path) -> None:
    report = generate(
        LocalLanding(str(tmp_path)),
        customers=5000,
        start=START,
        hours=24 * 28,
        seed=7,
        bad_share=0.0,
        dup_share=0.0,
    )
    rows = []
    for path in report.files:
        for line in Path(path).read_text().splitlines():
            event = json.loads(line)
            if event.get("customer_id"):
                rows.append((event["customer_id"], event["event_type"], event["occurred_at"]))
    events = pd.DataFrame(rows, columns=["customer", "type", "at"])
    events["at"] = pd.to_datetime(events["at"], utc=True, format="ISO8601")
    train = pd.concat(
        [_features(events, pd.Timestamp(START + timedelta(days=d))) for d in (7, 10, 14)]
    )
    holdout = _features(events, pd.Timestamp(START + timedelta(days=21)))
    columns = [c for c in train.columns if c != "label"]
    model = xgb.XGBClassifier(n_estimators=200, max_depth=4, learning_rate=0.05, random_state=0)
    model.fit(train[columns], train["label"])
    scores = model.predict_proba(holdout[columns])[:, 1]
    auc = roc_auc_score(holdout["label"], scores)
    print(f"holdout ROC-AUC {auc:.3f}")
    assert 0.65 < auc < 0.95, auc
    top = holdout.assign(score=scores).nlargest(len(holdout) // 10, "score")
    lift = top["label"].sum() / holdout["label"].sum() / 0.1
    print(f"top-decile lift {lift:.2f}")
    assert lift > 2.0, lift
