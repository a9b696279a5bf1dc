"""Figures *reported by the papers*, kept as data so chapters can show them beside ours, labelled.

Never mix these with our measurements: every entry says where it comes from.
"""
from __future__ import annotations

PAPER_FIGURES: dict[str, dict] = {
    "cui2024_imagenet_resnet50": {
        "paper": "Cui et al. 2024, Classes Are Not Equal (arXiv 2402.18133)",
        "setting": "ImageNet-1k validation, ResNet-50, 1,000 classes",
        "best": 1.00,
        "worst": 0.16,
    },
    "kang2020_imagenet_lt": {
        "paper": "Kang et al. 2020, Decoupling (ImageNet-LT, ResNeXt-50, all-class top-1 %)",
        "setting": "long-tailed ImageNet-LT",
        "joint": 44.4, "NCM": 47.3, "cRT": 49.6, "tau-norm": 49.4, "LWS": 49.9,
    },
    # zero-shot CLIP (OpenAI weights) as published by CLIP_benchmark, % ; for the MuSE chapter
    "clip_benchmark_zeroshot": {
        "paper": "CLIP_benchmark (LAION), zero-shot, OpenAI weights",
        "setting": "test splits; acc1 and mean per-class recall, %",
        "acc1": {"ViT-B/32": {"Flowers-102": 66.30, "DTD": 44.26, "FGVC-Aircraft": 19.71, "RESISC45": 53.76,
                              "ImageNet": 63.33},
                 "ViT-L/14": {"Flowers-102": 79.17, "DTD": 55.11, "FGVC-Aircraft": 31.71, "RESISC45": 63.52,
                              "ImageNet": 75.49}},
        "mean_per_class_recall": {"ViT-B/32": {"Flowers-102": 66.45, "DTD": 44.31, "FGVC-Aircraft": 19.73,
                                               "RESISC45": 54.17},
                                  "ViT-L/14": {"Flowers-102": 79.32, "DTD": 55.00, "FGVC-Aircraft": 31.70,
                                               "RESISC45": 64.20}},
    },
    "hickmon2024_d3g_table3": {
        "paper": "Hickmon 2024, D3G (arXiv 2412.12165), Table 3",
        "setting": "IdenProf test (2,000 images), CLIP ViT-L/14, top-1 %; columns = demographic added to the prompt; "
                   "w swept on the test set; race labels are FairFace predictions",
        "columns": ["profession", "race7", "race4", "gender", "age"],
        "rows": {("profession", "CLIP"): [95.14, 94.73, 95.22, 96.52, 94.81],
                 ("profession", "D3G"): [95.54, 95.22, 95.30, 96.52, 95.06],
                 ("profession", "avg-image D3G"): [95.87, 95.62, 95.38, 96.76, 95.54],
                 ("race7", "CLIP"): [44.65, 28.20, None, 28.61, 25.69],
                 ("race7", "D3G"): [45.38, 31.85, None, 32.90, 30.96],
                 ("race7", "avg-image D3G"): [45.46, 32.33, None, 33.55, 32.25]},
    },
    "hickmon2024_muse": {
        "paper": "Hickmon 2024, MuSE (arXiv 2412.12165, thesis)",
        "model": "CLIP ViT-L/14 + CuPL prompts + SDXL images",
        "data": "Flowers-102, DTD, RESISC45, FGVC-Aircraft",
        "gain": "up to +3 % (no per-data-set table, no code)",
    },
}


def paper_figure(key: str) -> dict:
    """One entry of :data:`PAPER_FIGURES`; unknown keys raise a ``KeyError`` listing the valid ones."""
    if key not in PAPER_FIGURES:
        raise KeyError(f"unknown paper figure {key!r}; known: {', '.join(PAPER_FIGURES)}")
    return PAPER_FIGURES[key]


# The papers' claims that the chapters test, in the papers' own terms. ``figure`` is the paper's number in
# words (empty when the paper states the claim only qualitatively), ``value`` that number (None if none).
PAPER_CLAIMS: dict[str, dict] = {
    # Classes Are Not Equal (Cui et al. 2024)
    "cui.balanced_disparity": {
        "paper": "Cui et al. 2024", "statement": "Per-class accuracy differs widely even when every class has the same "
        "number of training images", "figure": "ImageNet ResNet-50: best class 1.00, worst 0.16 (gap 0.84)", "value": 0.84},
    "cui.across_architectures": {
        "paper": "Cui et al. 2024", "statement": "The disparity holds for every architecture (ResNets, ViTs, CLIP)",
        "figure": "", "value": None},
    "cui.across_datasets": {
        "paper": "Cui et al. 2024", "statement": "The disparity holds across data sets (CIFAR-100, ImageNet, fine-grained)",
        "figure": "", "value": None},
    "cui.across_capacity": {
        "paper": "Cui et al. 2024", "statement": "The disparity persists as model capacity grows",
        "figure": "", "value": None},
    "cui.shared_hard_classes": {
        "paper": "Cui et al. 2024", "statement": "Difficulty belongs to the classes: different models find the same "
        "classes hard", "figure": "", "value": None},
    "cui.knn_keeps_gap": {
        "paper": "Cui et al. 2024", "statement": "A k-nearest-neighbour classifier on the same features keeps the "
        "disparity (so it is in the representation)", "figure": "", "value": None},
    "cui.etf_keeps_gap": {
        "paper": "Cui et al. 2024", "statement": "A fixed simplex-ETF classifier keeps the disparity",
        "figure": "", "value": None},
    "cui.retrain_keeps_gap": {
        "paper": "Cui et al. 2024", "statement": "Re-training only the classifier on the same features does not remove "
        "the disparity on balanced data", "figure": "", "value": None},
    "cui.heads_agree": {
        "paper": "Cui et al. 2024", "statement": "Whatever head reads the features, the same classes stay hard",
        "figure": "", "value": None},
    "cui.norms_do_not_explain": {
        "paper": "Cui et al. 2024", "statement": "On balanced data the classifier's weight norms do not explain "
        "per-class accuracy (unlike long-tailed data)", "figure": "", "value": None},
    "kang.norms_track_frequency": {
        "paper": "Kang et al. 2020", "statement": "Under long-tailed training the classifier's weight norms track the "
        "number of training images per class", "figure": "", "value": None},
    "cui.hard_overpredicted": {
        "paper": "Cui et al. 2024", "statement": "Hard classes receive more predictions than they have samples "
        "(Model Prediction Bias above 1)", "figure": "", "value": None},
    "cui.bias_tracks_difficulty": {
        "paper": "Cui et al. 2024", "statement": "The harder the class, the larger its prediction bias",
        "figure": "", "value": None},
    "cui.fp_dominate_gradient": {
        "paper": "Cui et al. 2024", "statement": "False positives dominate the gradient of hard classes' classifier "
        "weights", "figure": "", "value": None},
    "cui.diversity_hurts": {
        "paper": "Cui et al. 2024", "statement": "A more diverse class is harder (diversity is the root cause)",
        "figure": "", "value": None},
    "cui.diversity_attracts": {
        "paper": "Cui et al. 2024", "statement": "A more diverse class attracts more predictions",
        "figure": "", "value": None},
    "cui.mixup_fairer": {
        "paper": "Cui et al. 2024", "statement": "Mixup makes per-class accuracy more even", "figure": "", "value": None},
    "cui.cutmix_fairer": {
        "paper": "Cui et al. 2024", "statement": "CutMix makes per-class accuracy more even", "figure": "", "value": None},
    "cui.representation_learning_fairer": {
        "paper": "Cui et al. 2024", "statement": "Representation learning (contrastive pre-training) makes per-class "
        "accuracy more even", "figure": "", "value": None},
    "cui.reweight_lifts_hard": {
        "paper": "Cui et al. 2024", "statement": "Re-weighting the loss toward hard classes lifts them",
        "figure": "", "value": None},
    "cui.reweight_hurts_easy": {
        "paper": "Cui et al. 2024", "statement": "Re-weighting toward hard classes costs the easy ones",
        "figure": "", "value": None},
    "cui.reweight_no_gain": {
        "paper": "Cui et al. 2024", "statement": "Re-weighting brings no overall gain", "figure": "", "value": None},
    "lee.augmentation_hurts_some": {
        "paper": "Lee et al. 2023 (DropMix)", "statement": "Augmentation is class-dependent: it makes some classes worse",
        "figure": "", "value": None},
    # MuSE (Hickmon 2024, arXiv 2412.12165; thesis, no per-data-set table or code public)
    "muse.improves_accuracy": {
        "paper": "Hickmon 2024 (MuSE, arXiv 2412.12165)", "statement": "Mixing the text prototype with the mean "
        "embedding of generated images improves CLIP's zero-shot accuracy, training-free",
        "figure": "up to +3 % (Flowers-102, DTD, RESISC45, FGVC-Aircraft; CLIP ViT-L/14, CuPL, SDXL)", "value": None},
    "muse.w_mostly_text": {
        "paper": "Hickmon 2024 (MuSE, arXiv 2412.12165)", "statement": "The best mixing weight is mostly text "
        "(w above 0.5 on the text prototype)", "figure": "text weights 0.67-0.92 chosen by the sibling method D3G "
        "(IdenProf, swept on the test set)", "value": None},
    "muse.gain_3pct": {
        "paper": "Hickmon 2024 (MuSE, arXiv 2412.12165)", "statement": "MuSE's gains over zero-shot CLIP reach +3 %",
        "figure": "up to +3 %", "value": 0.03},
    # D3G (Hickmon 2024, arXiv 2412.12165; code github.com/jjhickmon/D3G), IdenProf, CLIP ViT-L/14, Table 3
    "d3g.race7_gain": {
        "paper": "Hickmon 2024 (D3G, arXiv 2412.12165)", "statement": "Adding images generated across demographic "
        "groups to CLIP's text prototypes raises race7 accuracy", "figure": "race7 task, race7 prompts: 28.20 → 31.85 "
        "(standard), 32.33 (average image); +3.65 points, w swept on the test set", "value": 0.0365},
    "d3g.profession_gain": {
        "paper": "Hickmon 2024 (D3G, arXiv 2412.12165)", "statement": "D3G raises profession accuracy",
        "figure": "profession task, profession prompts: 95.14 → 95.54 (standard), 95.87 (average image)",
        "value": 0.004},
    "d3g.no_harm": {
        "paper": "Hickmon 2024 (D3G, arXiv 2412.12165)", "statement": "D3G improves the groups it targets without "
        "hurting the others", "figure": "per-class race7 accuracies (Table 4); no per-group interval", "value": None},
}


def paper_claim(key: str) -> dict:
    """One entry of :data:`PAPER_CLAIMS`; unknown keys raise a ``KeyError`` listing the valid ones."""
    if key not in PAPER_CLAIMS:
        raise KeyError(f"unknown paper claim {key!r}; known: {', '.join(PAPER_CLAIMS)}")
    return PAPER_CLAIMS[key]
