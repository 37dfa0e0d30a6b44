"""GDClassifier: linear classifiers (logistic regression, linear SVMs) by the
compiled gradient descent.

Labels become margins' signs: with two classes one output fits +1 for
``classes_[1]`` and -1 for ``classes_[0]``; with k > 2 classes k outputs fit
one class against the rest each, +1 for their class and -1 for the others,
sharing every pass over X (the k-output loops read a row once and update the
k coefficient columns together). The loss is a function of the margin y s
(:mod:`fastgd.losses`), so everything the regressor has (the solvers, the data
sources, the penalties, standardization, the step sizes from the loss's
curvature bound, divergence recovery) serves the classifier unchanged.
"""

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, column_or_1d

from . import losses
from ._estimator import COMMON_CONSTRAINTS, LinearEstimator
from .sources import BlockSource, DataSource
from .sources.dask_source import is_dask_collection


class GDClassifier(ClassifierMixin, LinearEstimator):
    """Linear classification by compiled gradient descent, scikit-learn style.

    Minimizes ``(1/W) sum_i w_i loss(y_i (x_i.coef + b)) + alpha R(coef)`` per
    output, y_i in {-1, +1} (see the module docstring for how classes become
    outputs), with the solvers, data sources and defaults of
    :class:`fastgd.GDRegressor`. The losses and ``alpha`` mean what they mean
    in ``sklearn.linear_model.SGDClassifier`` (fastgd's loss and penalty are
    both twice scikit-learn's, so the minimizer is the same): "log_loss" is
    logistic regression, ``LogisticRegression(C)`` being ``alpha = 1 / (C m)``
    with ``penalty="l2"``; "hinge" a linear SVM.

    Parameters
    ----------
    loss : {"log_loss", "hinge", "squared_hinge", "modified_huber", \
"perceptron"}, default="log_loss"
        The loss of the margin z = y s (:mod:`fastgd.losses`). The smooth ones
        (log_loss, squared_hinge, modified_huber) stop on an estimated relative
        excess objective (``relative_excess_``: half the Newton decrement at
        the iterate, from a sampled Hessian) and "auto" runs them as damped
        Newton steps (``solver="batch"``); "hinge" and "perceptron" have kinks:
        nothing measures their excess (``relative_excess_`` None), "auto" runs
        averaged SGD, which stops on its loss plateau.
    penalty : {None, "l2", "l1", "elasticnet"}, default="l2"
        As in :class:`fastgd.GDRegressor` (and ``SGDClassifier``'s default).
        Without a penalty, data that a hyperplane separates has no optimum,
        only an infimum of 0: the coefficients grow for as long as the fit
        runs. Newton steps ("auto", "batch") drive the loss to 0 within
        rounding in a few tens of iterations and stop there, with large,
        finite coefficients (any scale of them separates); SGD grows them
        slowly and stops at ``max_iter`` with a ConvergenceWarning. Give a
        penalty for a bounded model.
    alpha : float, default=0.0001
        Strength of the penalty.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes: each row's weight is its sample weight times
        its class's. "balanced": n_samples / (n_classes count(class)), from the
        labels of ``fit``; in ``partial_fit`` from the counts of every batch so
        far (this one included), so the weights of a stream settle as it goes
        (its ``classes`` must then be given in the first call, and classes not
        yet seen weigh 1). A row weighs the same in every one-vs-rest output,
        as in ``LogisticRegression`` (``SGDClassifier`` weighs only the
        positive class of each output).

    The other parameters (``solver``, ``batch_size``, ``learning_rate``,
    ``eta0``, ``power_t``, ``l1_ratio``, ``positive``, ``fit_intercept``,
    ``standardize``, ``max_iter``, ``tol``, ``n_iter_no_change``,
    ``shuffle``, ``random_state``, ``average``, ``warm_start``, ``verbose``,
    ``impl``, ``optimizer``) are :class:`fastgd.GDRegressor`'s; ``solver``
    "svrg" and "cg" need the squared loss and are refused. ``tol`` is relative
    to the objective at its optimum, its scale taken from the loss of the zero
    model (2 log 2 for log_loss). Early stopping on a validation split is not
    offered.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels, sorted.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        One row for two classes (the side of ``classes_[1]``), one per class
        beyond.
    intercept_ : ndarray of shape (1,) or (n_classes,)
    n_iter_, t_, loss_curve_, eta0_, solver_, relative_excess_, \
n_features_in_, feature_names_in_
        As :class:`fastgd.GDRegressor`'s (``loss_curve_``: the mean training
        loss per epoch, averaged over outputs).

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from fastgd import GDClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = GDClassifier(random_state=0).fit(X, y)
    >>> model.solver_, round(model.score(X, y), 2), bool(model.relative_excess_ < 1e-4)
    ('batch', 0.97, True)
    >>> model.predict_proba(X[:1]).round(3)
    array([[1., 0.]])
    """

    _parameter_constraints = {  # noqa: RUF012 (scikit-learn's class-level table)
        **COMMON_CONSTRAINTS,
        "loss": [StrOptions(set(losses.CLASSIFICATION_LOSSES))],
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }
    # Not offered (see the class docstring); the training path reads them.
    early_stopping = False
    validation_fraction = 0.1

    def __init__(
        self,
        *,
        loss="log_loss",
        penalty="l2",
        alpha=0.0001,
        l1_ratio=0.15,
        class_weight=None,
        solver="auto",
        batch_size=32,
        learning_rate="adaptive",
        eta0="auto",
        power_t=0.25,
        positive=False,
        fit_intercept=True,
        standardize=True,
        max_iter=1000,
        tol=1e-4,
        n_iter_no_change=5,
        shuffle="auto",
        random_state=None,
        average="auto",
        warm_start=False,
        verbose=0,
        impl="compiled",
        optimizer="sgd",
    ):
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.class_weight = class_weight
        self.solver = solver
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.positive = positive
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.shuffle = shuffle
        self.random_state = random_state
        self.average = average
        self.warm_start = warm_start
        self.verbose = verbose
        self.impl = impl
        self.optimizer = optimizer

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _loss_options(self):
        return dict(loss=self.loss, epsilon=0.0, quantile=0.5)

    # ------------------------------------------------------------------ labels

    def _labels(self, X, y):
        """The labels as a 1-D array in memory: y, a data source's own targets
        where it holds them, a Dask collection's computed on the client."""
        if isinstance(X, DataSource) and y is None:
            return X.targets
        if y is None:
            raise ValueError(
                "GDClassifier requires y to be passed, but the target y is None: "
                "fit(X, y) with the labels, or X a data source that holds them."
            )
        labels = np.asarray(y.compute() if is_dask_collection(y) else y)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = column_or_1d(labels, warn=True)
        check_classification_targets(labels)
        return column_or_1d(labels)

    def _encode(self, labels):
        """The -1/+1 targets of ``labels`` (float64): one column for two classes,
        one per class beyond. A label outside ``classes_`` is refused."""
        unknown = np.setdiff1d(labels, self.classes_)
        if unknown.size:
            raise ValueError(
                f"y holds labels {unknown[:5].tolist()} that are not in classes_ "
                f"{self.classes_.tolist()}; pass every class in the first "
                "partial_fit call's classes."
            )
        if len(self.classes_) == 2:
            return np.where(labels == self.classes_[1], 1.0, -1.0)
        return np.where(labels[:, None] == self.classes_[None, :], 1.0, -1.0)

    def _targets(self, X, Y):
        """(X, y) for the training path: the encoded targets ``Y`` in place of
        the labels (a Dask X takes them from the client, as it takes y)."""
        if isinstance(X, BlockSource):
            return X.with_targets(Y, replace=True), None
        if isinstance(X, DataSource):
            raise ValueError(
                f"GDClassifier reads labels from file sources and arrays; a "
                f"{type(X).__name__} cannot take new targets: pass its arrays."
            )
        return X, Y

    def _row_weights(self, labels, sample_weight, counts):
        """Each row's weight: its sample weight times its class's
        (``class_weight``; "balanced" from ``counts``, the rows of each class
        seen so far)."""
        weights = _check_sample_weight(sample_weight, labels, dtype=np.float64)
        if self.class_weight is None:
            return None if sample_weight is None else weights
        if self.class_weight == "balanced":
            seen = counts > 0
            per_class = np.ones(len(self.classes_))
            per_class[seen] = counts.sum() / (seen.sum() * counts[seen])
        else:
            per_class = compute_class_weight(self.class_weight, classes=self.classes_,
                                             y=labels)  # fmt: skip
        return weights * per_class[np.searchsorted(self.classes_, labels)]

    def _counts(self, labels):
        """The rows of each class of ``classes_`` among ``labels``."""
        return np.bincount(np.searchsorted(self.classes_, labels),
                           minlength=len(self.classes_))  # fmt: skip

    def _check_classes(self, classes):
        if len(classes) < 2:
            raise ValueError(
                f"The number of classes has to be greater than one; got "
                f"{len(classes)} class ({classes.tolist()}): a classifier needs "
                "rows of two classes at least."
            )

    # ----------------------------------------------------------------- fitting

    def fit(self, X, y=None, sample_weight=None, coef_init=None, intercept_init=None):
        """Fit by gradient descent.

        Parameters
        ----------
        X : array-like, sparse matrix, data source or Dask collection
            As :meth:`fastgd.GDRegressor.fit`'s.
        y : array-like of shape (n_samples,)
            The labels (strings, integers, booleans); None when X is a data
            source that holds them.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights, multiplied by ``class_weight``'s.
        coef_init : array-like of shape (n_classes or 1, n_features), optional
        intercept_init : array-like of shape (n_classes or 1,), optional

        Returns
        -------
        self
        """
        self._validate_params()
        labels = self._labels(X, y)
        warm = self.warm_start and hasattr(self, "classes_")
        classes = np.unique(labels)
        self._check_classes(classes)
        if warm and not np.array_equal(classes, self.classes_):
            del self._state  # other classes: a fit from scratch
        self.classes_ = classes
        self._class_counts = self._counts(labels)
        weights = self._row_weights(labels, sample_weight, self._class_counts)
        X, Y = self._targets(X, self._encode(labels))
        coef_init, intercept_init = self._training_layout(coef_init, intercept_init)
        return self._fit_all(X, Y, weights, coef_init, intercept_init)

    def partial_fit(self, X, y=None, classes=None, sample_weight=None):
        """One epoch (one iteration for ``solver="batch"``) on (X, y), as
        :meth:`fastgd.GDRegressor.partial_fit`.

        Parameters
        ----------
        classes : array-like of shape (n_classes,), optional
            Every label the stream will hold; required in the first call (as
            in scikit-learn), and if given later, the same.

        Returns
        -------
        self
        """
        self._validate_params()
        labels = self._labels(X, y)
        first = not hasattr(self, "_state")
        if first:
            if classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit: "
                    "every label the stream will hold (np.unique of them all)."
                )
            self.classes_ = np.unique(np.asarray(classes))
            self._check_classes(self.classes_)
            self._class_counts = np.zeros(len(self.classes_), dtype=np.int64)
        elif classes is not None and not np.array_equal(np.unique(classes),
                                                        self.classes_):  # fmt: skip
            raise ValueError(
                f"classes={np.unique(classes).tolist()} is not the classes_ of "
                f"the first partial_fit call, {self.classes_.tolist()}."
            )
        Y = self._encode(labels)
        self._class_counts = self._class_counts + self._counts(labels)
        weights = self._row_weights(labels, sample_weight, self._class_counts)
        X, Y = self._targets(X, Y)
        return self._partial_fit_batch(X, Y, weights)

    def _training_layout(self, coef_init, intercept_init):
        """scikit-learn's (1, n_features) coefficients of a binary model as the
        training path's one output (n_features,)."""
        if coef_init is not None and len(self.classes_) == 2:
            coef_init = np.reshape(np.asarray(coef_init, dtype=np.float64), -1)
        return coef_init, intercept_init

    def _warm_coefficients(self):
        return self._training_layout(self.coef_, self.intercept_)

    def _store_coefficients(self, coef, intercept, dtype):
        super()._store_coefficients(coef, intercept, dtype)
        self.coef_ = np.atleast_2d(self.coef_)

    # --------------------------------------------------------------- prediction

    def decision_function(self, X):
        """The scores X coef + b: (n_samples,) for two classes (positive:
        ``classes_[1]``), (n_samples, n_classes) beyond; lazy for a Dask X.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        scores = self._decision(X)
        return scores.reshape(-1) if len(self.classes_) == 2 else scores

    def predict(self, X):
        """The class of each row: the side of the hyperplane for two classes,
        the largest score beyond.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        scores = self.decision_function(X)
        picked = scores > 0 if scores.ndim == 1 else scores.argmax(axis=1)
        if is_dask_collection(picked):
            classes = self.classes_
            return picked.map_blocks(lambda block: classes[block.astype(np.intp)],
                                     dtype=classes.dtype)  # fmt: skip
        return self.classes_[picked.astype(np.intp)]

    def _has_probabilities(self):
        if self.loss not in ("log_loss", "modified_huber"):
            raise AttributeError(
                f"probability estimates are not available for loss={self.loss!r}; "
                "use loss='log_loss' or 'modified_huber'."
            )
        return True

    @available_if(_has_probabilities)
    def predict_proba(self, X):
        """Class probabilities: for log_loss the logistic of each score, for
        modified_huber (clip(score, -1, 1) + 1) / 2 (Zadrozny and Elkan, as
        ``SGDClassifier``); one-vs-rest outputs are normalized to sum to 1 (a
        row that every output rejects gets 1 / n_classes each under
        modified_huber).

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        scores = np.asarray(self.decision_function(X), dtype=np.float64)
        if self.loss == "log_loss":
            positive = np.exp(-np.logaddexp(0.0, -scores))
        else:
            positive = (np.clip(scores, -1.0, 1.0) + 1.0) / 2.0
        if positive.ndim == 1:
            return np.column_stack([1.0 - positive, positive])
        total = positive.sum(axis=1, keepdims=True)
        uniform = np.full_like(positive, 1.0 / positive.shape[1])
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, positive / total, uniform)

    @available_if(_has_probabilities)
    def predict_log_proba(self, X):
        """The log of :meth:`predict_proba`.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def score(self, X, y=None, sample_weight=None):
        """The accuracy on (X, y); y None when X is a data source holding the
        labels.

        Returns
        -------
        float
        """
        labels = self._labels(X, y)
        from sklearn.metrics import accuracy_score

        predicted = np.asarray(self.predict(X))
        return float(accuracy_score(labels, predicted, sample_weight=sample_weight))
