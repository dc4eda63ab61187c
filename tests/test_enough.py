"""The "few" numbers: one rule each, where split, check, evaluate and report read it."""

import pandas as pd


def test_too_few_to_trust_is_as_many_as_a_default_split_needs_of_a_class():
    """evaluate calls a class of fewer distinct photos than a default split needs of a whole
    class "too few to trust", and split warns of a class it gives fewer: one number, held equal
    to ``ratios.min_class_size`` of the default ratios (a change of those ratios fails here)."""
    from objrec.config import SplitConfig
    from objrec.enough import FEWEST_TO_TRUST
    from objrec.ratios import min_class_size

    assert FEWEST_TO_TRUST == min_class_size(SplitConfig().ratios) == 3


def test_too_few_to_trust_counts_distinct_photos():
    """A class of 5 images of one burst (1 distinct) is too few to trust; one of 3 distinct is not."""
    from objrec.enough import too_few_to_trust

    table = pd.DataFrame({"class": ["a", "b", "c"], "n_test": [5, 3, 2], "n_groups": [1, 3, 2]})
    assert too_few_to_trust(table).tolist() == [True, False, True]


def test_the_few_numbers_are_defined_only_in_enough():
    """Three "few images" numbers with near names lived in split, evaluate and confidence
    (``few_images``, ``FEW_TO_MEASURE``, ``FEW_IMAGES``): none of those names is back."""
    import objrec.confidence
    import objrec.evaluate
    import objrec.split.recipe
    import objrec.thresholds

    for module in (objrec.split.recipe, objrec.evaluate, objrec.confidence, objrec.thresholds):
        assert not {"few_images", "FEW_TO_MEASURE", "FEW_IMAGES"} & set(vars(module))
