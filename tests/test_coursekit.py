"""Tests of the course tooling (coursekit): solution marker and converter, handouts, execution store,
static pages (widget notes, galleries, alt texts), slide-map links, settings.

Synthetic notebooks check each rule, including that the checks fail when they should; the real
notebooks check that their handouts carry no solution text. The few tests that start a kernel run
tiny notebooks (a few seconds each).
"""
from __future__ import annotations

import base64
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from coursekit import config, convert, execute, handouts, static  # noqa: E402
from coursekit.notebooks import (SOLUTION_TAG, is_solution, numbered_notebooks, read,  # noqa: E402
                                 solution_cells, split_details_solutions, without_solutions)
from coursekit.site import linkify_slide_map, repo_links  # noqa: E402

SOLUTION_TEXT = "The eigenvalues of the odd frequencies vanish for one hidden ReLU layer."
EXERCISES = "## Exercises\n\n1. Which depth fits the target with the fewest samples?\n"
DETAILS = f"<details><summary>Solution</summary>\n\n1. {SOLUTION_TEXT}\n</details>"
REFERENCES = "## References\n\n* A. Jacot et al., Neural Tangent Kernel, NeurIPS 2018."


def _nb(*cells) -> nbformat.NotebookNode:
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _legacy() -> nbformat.NotebookNode:
    return _nb(new_markdown_cell("# 99 · Test"), new_code_cell("x = 1"),
               new_markdown_cell(f"{EXERCISES}\n{DETAILS}\n\n{REFERENCES}"))


# --------------------------------------------------------------------------- solution marker


def test_details_block_moves_into_a_tagged_cell():
    nb = _legacy()
    new, moved = split_details_solutions(nb)
    assert moved == 1
    sources = [c.source for c in new.cells]
    assert sources[2] == EXERCISES.strip("\n") and sources[3] == DETAILS and sources[4] == REFERENCES
    assert [is_solution(c) for c in new.cells] == [False, False, False, True, False]
    assert new.cells[3].source.startswith("<details>"), "the instructor copy keeps the folding"
    assert len({c.id for c in new.cells}) == len(new.cells)
    nbformat.validate(new)
    assert nb.cells[2].source.endswith(REFERENCES), "the input is not modified"
    again, moved_again = split_details_solutions(new)
    assert moved_again == 0 and again == new, "converting twice changes nothing"


def test_other_details_and_code_cells_are_left_alone():
    hint = "<details><summary>Hint</summary>\n\nUse the kernel's eigenvalues.\n</details>"
    code = new_code_cell(f"s = '''{DETAILS}'''")
    nb = _nb(new_markdown_cell(hint), code)
    new, moved = split_details_solutions(nb)
    assert moved == 0 and new == nb


def test_nested_details_and_answer_summary():
    inner = "<details><summary>More</summary>\ndeep\n</details>"
    block = f"<details>\n<summary><b>Answers</b></summary>\n\nouter {inner} tail\n</details>"
    new, moved = split_details_solutions(_nb(new_markdown_cell(f"Q?\n\n{block}\n\nafter")))
    assert moved == 1
    assert [c.source for c in new.cells] == ["Q?", block, "after"]


def test_without_solutions_removes_tagged_markdown_and_code_cells():
    code_solution = new_code_cell("answer = 42", metadata={"tags": [SOLUTION_TAG]})
    nb = _nb(new_markdown_cell("Q"), code_solution, new_markdown_cell("A", metadata={"tags": [SOLUTION_TAG]}),
             new_code_cell("y = 2"))
    assert [c.source for c in without_solutions(nb).cells] == ["Q", "y = 2"]
    assert len(solution_cells(nb)) == 2


def test_converter_rewrites_files_in_place(tmp_path: Path):
    path = tmp_path / "99_test.ipynb"
    legacy = _legacy()
    nbformat.write(legacy, str(path))
    assert convert.main(["--check", str(tmp_path)]) == 1
    assert convert.main([str(tmp_path)]) == 0
    converted = read(path)
    assert sum(is_solution(c) for c in converted.cells) == 1
    assert convert.main(["--check", str(tmp_path)]) == 0
    # a converted notebook gives the same handout as the legacy one converted on the fly
    assert handouts.make_handout(converted) == handouts.make_handout(legacy)


# --------------------------------------------------------------------------- leak check


def test_leak_check_passes_a_clean_handout_and_catches_leaks():
    instructor = _legacy()
    handout = handouts.make_handout(instructor)
    assert SOLUTION_TEXT not in nbformat.writes(handout)
    assert handouts.leaks(handout, instructor) == []

    leaked = handouts.make_handout(instructor)
    leaked.cells[2].source += f"\n\nBy the way: {SOLUTION_TEXT.lower()}"
    assert any("reached the handout" in p for p in handouts.leaks(leaked, instructor))

    in_output = handouts.make_handout(instructor)
    in_output.cells[1].outputs = [new_output("stream", name="stdout", text=SOLUTION_TEXT)]
    assert any("reached the handout" in p for p in handouts.leaks(in_output, instructor))

    still_tagged = handouts.clear_outputs(split_details_solutions(instructor)[0])
    assert any("tagged 'solution'" in p for p in handouts.leaks(still_tagged, instructor))


@pytest.mark.parametrize("text", ["**Solution.** x = 3", "### Solutions\n\n1. x", "<details><summary>Answer</summary> x (never closed)"])
def test_untagged_solution_looking_text_fails(text: str):
    instructor = _nb(new_markdown_cell("Q"), new_markdown_cell(text))
    problems = handouts.leaks(handouts.make_handout(instructor), instructor)
    assert any("not tagged 'solution'" in p for p in problems), problems


def test_question_repeated_in_the_answer_is_not_a_leak():
    question = "Which depth fits the target with the fewest samples on the circle?"
    instructor = _nb(new_markdown_cell(question),
                     new_markdown_cell(f"{question}\n\nDepth two.", metadata={"tags": [SOLUTION_TAG]}))
    assert handouts.leaks(handouts.make_handout(instructor), instructor) == []


@pytest.mark.parametrize("path", numbered_notebooks(), ids=lambda p: p.stem)
def test_real_notebook_handout_has_no_solution_text(path: Path):
    instructor = read(path)
    handout = handouts.make_handout(instructor)
    assert solution_cells(instructor), f"{path.name} has no solution (tag 'solution', docs/authoring.md)"
    assert handouts.leaks(handout, instructor) == []
    text = handouts._normalise(nbformat.writes(handout))
    # A line the solution shares with a cell the handout keeps (a loop header, say) is no leak.
    kept = handouts._normalise("\n".join(c.source for c in instructor.cells
                                          if c not in solution_cells(instructor)))
    for cell in solution_cells(instructor):
        for fragment in handouts._fragments(cell):
            assert fragment in kept or fragment not in text, fragment
    assert all(c.outputs == [] for c in handout.cells if c.cell_type == "code")


# --------------------------------------------------------------------------- execution store + handouts


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COURSEKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NOTEBOOK_CELL_TIMEOUT", "120")
    return tmp_path


def test_store_reuses_same_code_only(store: Path, monkeypatch: pytest.MonkeyPatch):
    nb = _legacy()
    nb.cells[1].source = "import os\nprint(os.getpid())"
    first = execute.run(nb, cwd=store, label="t", force=True)
    assert not first.cached and first.notebook.cells[1].outputs[0]["text"].strip().isdigit()
    prose = without_solutions(nb)  # markdown changed, same code: reused
    again = execute.run(prose, cwd=store, label="t")
    assert again.cached and again.notebook.cells[1].outputs == first.notebook.cells[1].outputs
    assert [c.source for c in again.notebook.cells] == [c.source for c in prose.cells]
    edited = _legacy()
    edited.cells[1].source = "import os\nprint(os.getpid(), 1)"
    assert not execute.run(edited, cwd=store, label="t").cached, "a code edit executes again"
    monkeypatch.setenv("LECTURE_SEED", "3")
    assert not execute.run(nb, cwd=store, label="t").cached, "another environment executes again"


def test_failing_notebook_names_the_cell(store: Path):
    nb = _nb(new_code_cell("a = 1"), new_code_cell("assert a == 2, 'claim does not show'"))
    with pytest.raises(execute.NotebookFailed, match=r"(?s)cell 1 failed.*claim does not show"):
        execute.run(nb, cwd=store, label="t")


def test_handout_that_needs_a_removed_solution_fails(store: Path):
    solution = new_code_cell("answer = 42", metadata={"tags": [SOLUTION_TAG]})
    nb = _nb(new_markdown_cell("Exercise: compute the answer."), solution,
             new_markdown_cell(DETAILS), new_code_cell("print(answer)"))
    src = store / "src"
    src.mkdir()
    nbformat.write(nb, str(src / "99_test.ipynb"))
    problems = handouts.build(numbered_notebooks(src), store / "out", log=lambda *a: None)
    assert len(problems) == 1 and "does not execute" in problems[0] and "NameError" in problems[0]
    assert not (store / "out" / "99_test.ipynb").exists()


def test_handouts_written_cleared_or_with_their_own_outputs(store: Path):
    nb = _legacy()
    nb.cells[1].source = "print('hello from the handout')"
    nb.cells[1].outputs = [new_output("stream", name="stdout", text="stale output")]
    src = store / "src"
    src.mkdir()
    nbformat.write(nb, str(src / "99_test.ipynb"))
    assert handouts.build(numbered_notebooks(src), store / "clear", log=lambda *a: None) == []
    cleared = read(store / "clear" / "99_test.ipynb")
    assert cleared.cells[1].outputs == [] and not any(is_solution(c) for c in cleared.cells)
    assert handouts.build(numbered_notebooks(src), store / "keep", outputs="keep", log=lambda *a: None) == []
    kept = read(store / "keep" / "99_test.ipynb")
    assert kept.cells[1].outputs[0]["text"] == "hello from the handout\n"
    assert SOLUTION_TEXT not in nbformat.writes(kept)


# --------------------------------------------------------------------------- static pages

PNG = base64.b64encode(b"\x89PNG fake default view").decode()
PNG_GALLERY = base64.b64encode(b"\x89PNG fake gallery").decode()


def _widget_nb(gallery: bool) -> nbformat.NotebookNode:
    state = {
        "box": {"model_name": "VBoxModel", "state": {"_dom_classes": ["widget-interact"],
                                                     "children": ["IPY_MODEL_s", "IPY_MODEL_o"]}},
        "s": {"model_name": "SelectionSliderModel",
              "state": {"description": "width", "_options_labels": ["64", "256"], "index": 1}},
        "o": {"model_name": "OutputModel", "state": {"outputs": [
            {"output_type": "display_data", "data": {"image/png": PNG, "text/plain": "<Figure>"}, "metadata": {}}]}},
        "bar": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_p"]}},
        "p": {"model_name": "FloatProgressModel", "state": {"value": 10}},
    }
    view = lambda mid: new_output("display_data", data={  # noqa: E731
        "application/vnd.jupyter.widget-view+json": {"model_id": mid, "version_major": 2, "version_minor": 0},
        "text/plain": "interactive(...)"})
    cells = [new_markdown_cell("## Width sweep\n\nFinite nets approach the kernel. More text."),
             new_code_cell("ax.set_title('Gap to the NTK vs width')\nrun()", outputs=[view("bar")]),
             new_code_cell("widgets.slider_plot(draw, width=[64, 256])", outputs=[view("box")])]
    if gallery:
        cells.append(new_code_cell("for w in [64, 256]: draw(w)", metadata={"tags": ["widget-gallery"]},
                                   outputs=[new_output("display_data", data={"image/png": PNG_GALLERY})]))
    nb = _nb(*cells)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": state}}
    return nb


def test_widget_becomes_note_with_binder_link_and_default_view():
    url = "https://mybinder.org/v2/gh/o/r/HEAD?labpath=notebooks%2F99_test.ipynb"
    out = static.static_notebook(_widget_nb(gallery=False), url, log=lambda *a: None)
    assert "widgets" not in out.metadata
    assert out.cells[1].outputs == [], "a progress bar leaves nothing"
    outputs = out.cells[2].outputs
    assert not any(static.WIDGET_VIEW in o.get("data", {}) for c in out.cells for o in c.get("outputs", []))
    note = outputs[0]["data"]["text/markdown"]
    assert "Interactive widget" in note and f"]({url})" in note and "*width* = 256" in note
    assert "default values" in note
    assert outputs[1]["data"]["image/png"] == PNG
    assert out.cells[2].metadata["coursekit"]["alts"][0].startswith("Figure in section “Width sweep”")


def test_gallery_replaces_the_single_default_view():
    out = static.static_notebook(_widget_nb(gallery=True), "URL", log=lambda *a: None)
    widget, gallery = out.cells[2], out.cells[3]
    assert len(widget.outputs) == 1 and "gallery below" in widget.outputs[0]["data"]["text/markdown"]
    assert "hide-input" in gallery.metadata["tags"]
    assert "Gallery" in gallery.outputs[0]["data"]["text/markdown"]
    assert gallery.outputs[1]["data"]["image/png"] == PNG_GALLERY


def test_default_view_already_on_the_page_is_not_repeated():
    nb = _widget_nb(gallery=False)
    nb.cells[1].outputs = [new_output("display_data", data={"image/png": PNG})]
    out = static.static_notebook(nb, "URL", log=lambda *a: None)
    assert len(out.cells[2].outputs) == 1
    assert "figure above" in out.cells[2].outputs[0]["data"]["text/markdown"]


def test_alt_texts_authored_explicit_or_made_from_context():
    nb = _widget_nb(gallery=False)
    nb.cells[1].outputs = [new_output("display_data", data={"image/png": PNG_GALLERY})]
    auto = static.static_notebook(nb, "URL", log=lambda *a: None).cells[1].metadata["coursekit"]["alts"][0]
    assert "Width sweep" in auto and "“Gap to the NTK vs width”" in auto and "Finite nets approach the kernel." in auto
    nb.cells[1].metadata["mystnb"] = {"image": {"alt": "Gap shrinking with width"}}
    assert static.static_notebook(nb, "URL").cells[1].metadata["coursekit"]["alts"] == ["Gap shrinking with width"]


# --------------------------------------------------------------------------- site pieces, settings


def test_slide_map_links_existing_notebooks_only():
    text = ("| slide | notebook |\n|---|---|\n| NTK vs NN | 04 NTK vs finite networks |\n"
            "| Why NTK | 00 welcome, 04 NTK vs finite networks |\n| KIP | 05 dataset distillation (planned) |\n")
    out = linkify_slide_map(text, {"00": "00_welcome", "04": "04_ntk_vs_finite_networks"})
    assert "| [04 NTK vs finite networks](../notebooks/04_ntk_vs_finite_networks.ipynb) |" in out
    assert "[00 welcome](../notebooks/00_welcome.ipynb), [04 NTK" in out
    assert "| 05 dataset distillation (planned) |" in out and out.startswith("| slide | notebook |\n|---|")


def test_links_to_repository_files_point_to_github():
    course = config.load()
    pages = {"notebooks/00_welcome.ipynb", "docs/slide_map.md"}
    text = ("[nb](notebooks/00_welcome.ipynb) [lib](lecture_lib/config.py#L3) [map](docs/slide_map.md) "
            "[web](https://example.org/x) [gone](no/such/file.py)")
    out = repo_links(text, "", pages, course)
    assert "[nb](notebooks/00_welcome.ipynb)" in out and "[map](docs/slide_map.md)" in out
    assert f"[lib]({course.repository_url}/blob/{course.branch}/lecture_lib/config.py#L3)" in out
    assert "[web](https://example.org/x)" in out and "[gone](no/such/file.py)" in out
    assert f"({course.repository_url}/blob/{course.branch}/README.md)" in repo_links("[r](../README.md)", "docs", pages, course)


def test_course_settings_and_binder_url(tmp_path: Path):
    course = config.load()
    url = course.binder_url("notebooks/00_welcome.ipynb")
    assert course.github in url and "notebooks%2F00_welcome.ipynb" in url
    bad = tmp_path / "course.toml"
    bad.write_text('[course]\ntitle="t"\n[repository]\ngithub="noslash"\n[binder]\nurl="{github}{path}"\n')
    with pytest.raises(ValueError, match="OWNER/REPO"):
        config.load(bad)


# --------------------------------------------------------------------------- #
# progress bars are cleared before a notebook is saved (coursekit.clear_progress)
# --------------------------------------------------------------------------- #
def test_clear_progress_removes_bars_only():
    from coursekit import clear_progress

    nb = nbformat.v4.new_notebook()
    bar = nbformat.v4.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2, "version_minor": 0},
        "text/plain": "width: 100%|##########| 3/3 [00:02<00:00,  1.2it/s]"})
    stderr_bar = nbformat.v4.new_output("stream", name="stderr", text="steps:  50%|#####     | 5/10 [00:01<00:01, 4.1it/s]\r")
    printed = nbformat.v4.new_output("stream", name="stdout", text="accuracy 0.9 | 3/3 folds\n")
    slider = nbformat.v4.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {"model_id": "def", "version_major": 2, "version_minor": 0},
        "text/plain": "interactive(children=(IntSlider(value=3),))"})
    nb.cells = [nbformat.v4.new_code_cell("x", outputs=[bar, printed, stderr_bar, slider])]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {
        "abc": {"state": {"children": ["IPY_MODEL_0a"]}}, "0a": {"state": {}}, "def": {"state": {}}}}}
    assert clear_progress.clear(nb) == 2
    assert nb.cells[0].outputs == [printed, slider]
    assert set(nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]) == {"def"}


def test_stored_notebooks_hold_no_progress_bars():
    from coursekit import clear_progress

    assert clear_progress.main(["--check"]) == 0, "run: .venv/bin/python -m coursekit.clear_progress"
