"""The README's configuration table documents every setting."""

from kairos.settings import PROJECT_ROOT, Settings


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    missing = [n for n in Settings.model_fields if f"`KAIROS_{n.upper()}`" not in readme]
    assert missing == []
