"""``keras-aw recipes``: the named training recipes and their values."""


def cmd_recipes(args):
    """Prints `keras_aw_tools.recipe.format_recipes()`."""
    from keras_aw_tools import recipe

    print(recipe.format_recipes())
    return 0
