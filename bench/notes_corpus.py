"""Synthetic notes for ``bench.notes``: analyze answers on 32 topics, in English and Chinese, with formulas.

Deterministic for a seed. Each note draws most of its words from one topic, some from every topic, a few
rare ones from a lexicon of 4,096 made-up words (real notes are not all alike), and 1 to 4 formulas from
its topic's templates with random numbers, so that word, formula and meaning search all have something
to find and notes of one topic are near one another. Queries are drawn the same way: a few topic words,
or a topic formula written in another style (``\\dfrac``, braces, ``\\,\\mathrm{d}x``), which the formula
normaliser must see through.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from typing import Any

TOPICS: list[tuple[str, str, list[str]]] = [
    # (English words, Chinese words, formula templates: {a} {b} {c} are small integers)
    (
        "integration by parts antiderivative",
        "分部积分 原函数",
        [r"\int_{a}^{b} x e^{x} dx", r"\int u\,dv = uv - \int v\,du"],
    ),
    ("definite integral area under curve", "定积分 曲线 面积", [r"\int_0^{a} x^{b} dx", r"\int_{a}^{b} \sin x dx"]),
    ("substitution change of variables", "换元 变量代换", [r"\int f(g(x)) g'(x) dx", r"\int_0^{a} {b}x e^{x^2} dx"]),
    ("derivative chain rule", "导数 链式法则", [r"\frac{d}{dx} (x^{a}+{b})^{c}", r"f'(x) = {a} x^{b}"]),
    (
        "limit continuity epsilon delta",
        "极限 连续",
        [r"\lim_{x \to 0} \frac{\sin {a}x}{x}", r"\lim_{n \to \infty} (1+\frac{1}{n})^n"],
    ),
    (
        "taylor series expansion",
        "泰勒 级数 展开",
        [r"e^x = \sum_{n=0}^{\infty} \frac{x^n}{n!}", r"\sin x \approx x - \frac{x^{a}}{{b}!}"],
    ),
    (
        "geometric series convergence",
        "几何级数 收敛",
        [r"\sum_{k=0}^{\infty} r^k = \frac{1}{1-r}", r"\sum_{n=1}^{{a}} {b}^n"],
    ),
    ("eigenvalues eigenvectors matrix", "特征值 特征向量 矩阵", [r"\det(A - \lambda I) = 0", r"A v = {a} v"]),
    (
        "determinant linear system",
        "行列式 线性方程组",
        [r"\det \begin{pmatrix} {a} & {b} \\ {c} & 1 \end{pmatrix}", r"{a}x + {b}y = {c}"],
    ),
    (
        "quadratic equation roots discriminant",
        "一元二次方程 判别式 根",
        [r"x^2 + {a}x + {b} = 0", r"x = \frac{-b \pm \sqrt{b^2-4ac}}{2a}"],
    ),
    ("factoring polynomials", "因式分解 多项式", [r"x^2 - {a}^2 = (x-{a})(x+{a})", r"x^3 + {b}x^2 + {c}x"]),
    ("trigonometric identities", "三角恒等式", [r"\sin^2 x + \cos^2 x = 1", r"\sin({a}x) = {a} \sin x \cos x"]),
    ("law of cosines triangle", "余弦定理 三角形", [r"c^2 = a^2 + b^2 - 2ab\cos C", r"\cos {a}^\circ"]),
    (
        "probability binomial distribution",
        "概率 二项分布",
        [r"P(X={a}) = \binom{{b}}{{a}} p^{a} (1-p)^{b}", r"E[X] = np"],
    ),
    (
        "normal distribution variance",
        "正态分布 方差",
        [r"\frac{1}{\sigma\sqrt{2\pi}} e^{-\frac{(x-\mu)^2}{2\sigma^2}}", r"Var(X) = {a}"],
    ),
    ("conditional probability bayes", "条件概率 贝叶斯", [r"P(A|B) = \frac{P(B|A)P(A)}{P(B)}", r"P(A \cap B) = 0.{a}"]),
    ("vectors dot product", "向量 点积", [r"\vec{u} \cdot \vec{v} = {a}", r"|\vec{v}| = \sqrt{{a}^2+{b}^2}"]),
    ("complex numbers modulus argument", "复数 模 辐角", [r"z = {a} + {b}i", r"e^{i\pi} + 1 = 0"]),
    ("differential equations separable", "微分方程 分离变量", [r"\frac{dy}{dx} = {a}y", r"y'' + {a}y' + {b}y = 0"]),
    ("logarithms exponent rules", "对数 指数", [r"\log_{a} {b} = \frac{\ln {b}}{\ln {a}}", r"e^{\ln {a}} = {a}"]),
    ("arithmetic sequence sum", "等差数列 求和", [r"S_n = \frac{n(a_1+a_n)}{2}", r"a_n = {a} + ({b}-1)d"]),
    (
        "mathematical induction proof",
        "数学归纳法 证明",
        [r"\sum_{i=1}^{n} i = \frac{n(n+1)}{2}", r"\sum_{i=1}^{n} i^{a}"],
    ),
    (
        "partial fractions decomposition",
        "部分分式 分解",
        [r"\frac{1}{x^2-{a}} = \frac{A}{x-1} + \frac{B}{x+1}", r"\int \frac{dx}{x^2+{a}}"],
    ),
    ("circle equation radius", "圆的方程 半径", [r"(x-{a})^2 + (y-{b})^2 = {c}^2", r"A = \pi r^2"]),
    ("parabola vertex focus", "抛物线 顶点 焦点", [r"y = {a}x^2 + {b}x + {c}", r"y^2 = 4px"]),
    ("inequalities absolute value", "不等式 绝对值", [r"|x - {a}| < {b}", r"x^2 - {a} \geq 0"]),
    (
        "permutations combinations counting",
        "排列 组合 计数",
        [r"\binom{{a}}{{b}} = \frac{{a}!}{{b}!({a}-{b})!}", r"P({a},{b})"],
    ),
    (
        "gradient partial derivatives",
        "梯度 偏导数",
        [r"\nabla f = (\frac{\partial f}{\partial x}, \frac{\partial f}{\partial y})", r"f_x = {a}xy"],
    ),
    (
        "double integral polar coordinates",
        "二重积分 极坐标",
        [r"\iint_D r\,dr\,d\theta", r"\int_0^{2\pi} \int_0^{a} r^{b} dr d\theta"],
    ),
    (
        "fourier series coefficients",
        "傅里叶级数 系数",
        [r"a_n = \frac{1}{\pi} \int_{-\pi}^{\pi} f(x) \cos nx dx", r"\sum_{n=1}^{\infty} \frac{\sin nx}{n^{a}}"],
    ),
    ("mean value theorem", "中值定理", [r"f'(c) = \frac{f(b)-f(a)}{b-a}", r"f({a}) - f({b})"]),
    ("optimization maxima minima", "最值 极大值 极小值", [r"f'(x) = 0", r"f(x) = x^{a} - {b}x"]),
]
COMMON = "solve find show prove compute step answer check simplify given therefore let note example exercise".split()
COMMON_ZH = "解 求 证明 计算 步骤 答案 化简 已知 所以 例题 练习".split()
STYLES = [  # how a query re-writes a formula; the normaliser must see through each
    lambda f: f,
    lambda f: f.replace(r"\frac", r"\dfrac"),
    lambda f: f.replace("dx", r"\,\mathrm{d}x"),
    lambda f: re.sub(r"([_^])([0-9a-z])", r"\1{\2}", f),
]
SYLLABLES = "ka lo mi ne ru sa ti vo ze bu ha pe qi do fa gu".split()
LEXICON = [a + b + c for a in SYLLABLES for b in SYLLABLES for c in SYLLABLES]  # 4,096 rare words


def formula(rng: random.Random, template: str) -> str:
    values = {"a": rng.randint(2, 9), "b": rng.randint(2, 9), "c": rng.randint(2, 9)}
    for name, value in values.items():
        template = template.replace("{" + name + "}", str(value))
    return template


def topic_of(index: int, rng: random.Random) -> int:
    """Topics are unevenly popular, as real notes are (a few topics hold most of them)."""
    return min(len(TOPICS) - 1, int(rng.expovariate(1 / 8))) if index % 5 else rng.randrange(len(TOPICS))


def answer(index: int, seed: int = 7) -> dict[str, Any]:
    """The ``index``-th synthetic analyze answer (task ``transcribe``; Chinese for one note in five)."""
    rng = random.Random(seed * 1_000_003 + index)
    words, words_zh, templates = TOPICS[topic_of(index, rng)]
    chinese = index % 5 == 4
    vocab = (words_zh.split() + COMMON_ZH) if chinese else (words.split() + COMMON)
    formulas = [formula(rng, rng.choice(templates)) for _ in range(rng.randint(1, 4))]
    lines = [f"# {' '.join(rng.sample(vocab, 2))} {index}"]
    for f in formulas:
        sentence = " ".join(rng.choice(vocab) for _ in range(rng.randint(6, 14)))
        sentence += " " + " ".join(rng.choice(LEXICON) for _ in range(rng.randint(2, 6)))
        lines += ["", f"{sentence}: ${f}$" if rng.random() < 0.5 else f"{sentence}\n\n$${f}$$"]
    markdown = "\n".join(lines)
    return {
        "id": f"bench{index:08d}",
        "object": "vision.analysis",
        "created": 1_767_225_600 + index * 60,
        "model": "qwen3-vl-plus",
        "backend": "model",
        "task": "transcribe",
        "language": "zh" if chinese else "en",
        "format": "markdown",
        "markdown": markdown,
        "latex": formulas,
        "structured": None,
        "usage": {"prompt_tokens": 900, "completion_tokens": 300, "total_tokens": 1200},
        "timings": {"preprocess_ms": 20.0, "upstream_ms": 1500.0, "total_ms": 1530.0},
        "cached": False,
        "image": {"width": 1280, "height": 960},
    }


def answers(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    return (answer(i, seed) for i in range(count))


def queries(count: int, seed: int = 11) -> list[dict[str, str]]:
    """``count`` queries: ``q`` (1 to 3 topic words, Chinese for one in five) and ``formula`` (restyled)."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        words, words_zh, templates = TOPICS[topic_of(i, rng)]
        pool = words_zh.split() if i % 5 == 4 else words.split()
        q = " ".join(rng.sample(pool, min(len(pool), rng.randint(1, 3))))
        out.append({"q": q, "formula": rng.choice(STYLES)(formula(rng, rng.choice(templates)))})
    return out
