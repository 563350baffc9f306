from pathlib import Path

import pytest

from alignment_ci.config import Config, Scale, load_config, parse_config
from alignment_ci.errors import ConfigError


def test_defaults_have_five_dimensions_and_two_critical():
    config = Config()
    assert config.taxonomy.names == [
        "helpfulness",
        "factual_accuracy",
        "safety",
        "style_tone",
        "instruction_following",
    ]
    assert [d.name for d in config.taxonomy.dimensions if d.critical] == ["factual_accuracy", "safety"]
    assert str(config.taxonomy.get("helpfulness").scale) == "1..5"


def test_unknown_key_names_key_path_and_line():
    text = "taxonomy:\n  version: '2'\n  colour: blue\n"
    with pytest.raises(ConfigError) as exc:
        parse_config(text, source="alignment.yaml")
    assert "alignment.yaml:3: taxonomy.colour: unknown key" in str(exc.value)


def test_wrong_type_names_key_path_and_line():
    text = (
        "validation:\n"
        "  text_warn_bytes: 100\n"
        "quality:\n"
        "  alpha_reliable: lots\n"
    )
    with pytest.raises(ConfigError) as exc:
        parse_config(text, source="a.yaml")
    assert "a.yaml:4: quality.alpha_reliable:" in str(exc.value)


def test_nested_list_error_points_at_the_item_line():
    text = (
        "taxonomy:\n"
        "  dimensions:\n"
        "    - {name: a, definition: first}\n"
        "    - {name: b, definition: second}\n"
        "    - name: c\n"
        "      definition: third\n"
        "      scale: {min: 5, max: 1}\n"
        "  default_dimension: a\n"
    )
    with pytest.raises(ConfigError) as exc:
        parse_config(text, source="a.yaml")
    assert "a.yaml:7: taxonomy.dimensions.2.scale" in str(exc.value)


def test_taxonomy_size_is_bounded():
    text = "taxonomy:\n  default_dimension: a\n  dimensions:\n    - {name: a, definition: only one}\n"
    with pytest.raises(ConfigError, match="taxonomy.dimensions"):
        parse_config(text)


def test_invalid_yaml_reports_line_and_column():
    with pytest.raises(ConfigError, match=r"x.yaml:2:\d+: invalid YAML"):
        parse_config("a: 1\nb: c: d\n", source="x.yaml")


def test_repo_config_loads_and_matches_defaults(repo_root: Path):
    config = load_config(repo_root / "alignment.yaml")
    assert config.taxonomy.names == Config().taxonomy.names
    assert config.root == repo_root


def test_missing_explicit_config_is_an_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_scale_parse():
    assert Scale.parse("1..7") == Scale(min=1, max=7)
    with pytest.raises(ValueError):
        Scale.parse("1-7")
