from setuptools import find_packages, setup

setup(
    name="minil2o",
    version="0.1.0",
    description="Learned optimizers from scratch in NumPy/CuPy: the LSTM optimizer of Andrychowicz "
                "et al. 2016 and RNNprop of Lv et al. 2017, with a tiny autograd engine and "
                "hand-written backward passes.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["minil2o", "minil2o.*"]),
    include_package_data=True,
    package_data={"minil2o": ["datasets/*", "datasets/*/*", "datasets/*/*/*"]},
    install_requires=["numpy>=2", "scipy", "matplotlib", "tqdm", "array-api-compat>=1.10"],
    extras_require={
        "test": ["pytest", "hypothesis", "array-api-strict>=2.2", "nbclient", "nbformat", "ipykernel",
                 "jupytext"],
        "gpu": ["cupy-cuda12x"],
        "torch": ["torch"],
        # the book (python tools/build_book.py): Jupyter Book 1's stack, MathJax for reading
        # offline, and selenium for tests/test_book.py (which also needs chromium)
        "book": ["sphinx>=7", "myst-nb>=1.1", "sphinx-book-theme>=1.1",
                 "sphinx-mathjax-offline>=0.0.2", "selenium>=4.10"],
        "examples": ["torch", "scikit-learn"],   # examples/ and evaluate-shipped's digits problems
    },
    entry_points={"console_scripts": ["minil2o=minil2o.cli:main"]},
)
