"""CSV cells cannot run as formulas; templates always escape."""
import csv
import io

from chalicelib.exports import safe_cell, template_environment, to_csv


def test_cells_that_would_run_as_formulas_are_neutralised():
    assert safe_cell('=HYPERLINK("http://x","click")') == '\'=HYPERLINK("http://x","click")'
    assert [safe_cell(v) for v in ("+91 98123", "-2+3", "@SUM(A1)", "\tx", "\rx")] == \
        ["'+91 98123", "'-2+3", "'@SUM(A1)", "'\tx", "'\rx"]
    # Numbers and ordinary text are left alone.
    assert [safe_cell(v) for v in (-5, "-12.5", "+3", 0, None, "Ananya Mehta", "a=b")] == \
        ["-5", "-12.5", "+3", "0", "", "Ananya Mehta", "a=b"]


def test_a_csv_reads_back_with_every_cell_neutralised_and_quoted_properly():
    text = to_csv(["org", "name", "points"], [["org_a", '=cmd|" /C calc"!A0', 42], ["org_b", 'say "hi", all', -3]])
    assert list(csv.reader(io.StringIO(text))) == [
        ["org", "name", "points"], ["org_a", "'=cmd|\" /C calc\"!A0", "42"], ["org_b", 'say "hi", all', "-3"]]


def test_html_and_unknown_templates_escape_and_plain_text_does_not(tmp_path):
    (tmp_path / "page.html").write_text("<p>{{ name }}</p>")
    (tmp_path / "subject.j2").write_text("{{ name }}")
    (tmp_path / "body.txt").write_text("Hello {{ name }}")
    env = template_environment(tmp_path)
    evil = "<script>alert('x')</script>"
    assert env.get_template("page.html").render(name=evil) == "<p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</p>"
    assert env.get_template("subject.j2").render(name=evil).startswith("&lt;script&gt;")
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    assert env.get_template("body.txt").render(name="Ananya <Section Officer>") == "Hello Ananya <Section Officer>"
