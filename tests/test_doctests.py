"""Every `>>>` example in the package's docstrings runs and prints what it shows."""

import doctest
import importlib
import pkgutil

import inception_tf


def package_modules():
    """Every module of the package, imported (none may need an optional extra to import)."""
    names = [info.name for info in pkgutil.walk_packages(inception_tf.__path__, "inception_tf.")]
    return [inception_tf] + [importlib.import_module(name) for name in sorted(names)]


def test_docstring_examples_run():
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    examples = 0
    for module in package_modules():
        for test in finder.find(module, module.__name__):
            examples += len(test.examples)
            runner.run(test)
    failed, attempted = runner.summarize(verbose=False)
    assert attempted == examples and failed == 0
    assert examples >= 20, examples  # the examples of imagenet, the layers, GoogLeNet and the crops
