"""The portal's forms. They only shape input; services.create_project does the checks."""

from __future__ import annotations

from django import forms


class ProjectForm(forms.Form):
    project_id = forms.CharField(
        label="Project id",
        max_length=100,
        help_text="A slug: letters, digits, '.', '_' and '-'. It names the project's folders.",
    )
    name = forms.CharField(max_length=200, required=False)
    repo_path = forms.CharField(
        label="Repository path",
        max_length=1000,
        required=False,
        help_text="A git checkout on this machine (only ever read), or…",
    )
    git_url = forms.CharField(
        label="Git URL",
        max_length=1000,
        required=False,
        help_text="…a remote repository TFactory clones for itself.",
    )
    default_base_ref = forms.CharField(label="Default base ref", max_length=200, initial="main")
