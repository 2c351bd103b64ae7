"""Message templates: text per channel and language with `{variables}`, checked at load.

A template is plain text with named fields (`Olá {first_name}, você tem
{points} pontos`), formatted with `str.format_map` over the message's
variables. Every field a template names must be one the trigger provides,
which is checked when the journey is loaded, not when the first customer is
reached. A WhatsApp message outside a conversation must be an approved
template: it names the template and lists its parameters in order.
"""

from __future__ import annotations

import string
from collections.abc import Collection, Mapping

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_LANGUAGE = "pt_BR"


class TemplateError(ValueError):
    """A template names a variable that does not exist, or lacks what its channel needs."""


class ChannelTemplate(BaseModel):
    """What one channel sends for one step."""

    model_config = ConfigDict(extra="forbid")

    text: dict[str, str] = Field(default_factory=dict,
                                 description="language -> text (SMS, e-mail body, WhatsApp "
                                             "inside the 24-hour window)")
    subject: dict[str, str] = Field(default_factory=dict, description="language -> e-mail subject")
    template: str | None = Field(default=None, description="An approved provider template name "
                                 "(required for WhatsApp outside the 24-hour window)")
    variables: list[str] = Field(default_factory=list,
                                 description="The approved template's parameters, in order")


def fields_of(text: str) -> set[str]:
    names: set[str] = set()
    for _, name, _, _ in string.Formatter().parse(text):
        if name is not None:
            if not name.isidentifier():
                raise TemplateError(f"{{{name}}}: a variable is a plain name such as {{first_name}}")
            names.add(name)
    return names


def check(template: ChannelTemplate, medium: str, available: Collection[str], where: str,
          approved: Collection[str] | None = None) -> None:
    """Raise a TemplateError naming `where` when the template cannot be rendered."""
    texts = {**{f"text.{k}": v for k, v in template.text.items()},
             **{f"subject.{k}": v for k, v in template.subject.items()}}
    for place, text in texts.items():
        try:
            unknown = fields_of(text) - set(available)
        except (ValueError, TemplateError) as error:
            raise TemplateError(f"{where}.{place}: {error}") from None
        if unknown:
            raise TemplateError(f"{where}.{place}: unknown variable(s) "
                                f"{', '.join(sorted(unknown))}; available: "
                                f"{', '.join(sorted(available))}")
    unknown = set(template.variables) - set(available)
    if unknown:
        raise TemplateError(f"{where}.variables: unknown variable(s) {', '.join(sorted(unknown))}; "
                            f"available: {', '.join(sorted(available))}")
    if medium == "whatsapp":
        if not template.template:
            raise TemplateError(f"{where}: a WhatsApp message needs `template`, the name of an "
                                "approved template")
        if approved is not None and template.template not in approved:
            raise TemplateError(f"{where}: WhatsApp template {template.template!r} is not in "
                                f"the approved list ({', '.join(sorted(approved)) or 'none'})")
    elif not template.text:
        raise TemplateError(f"{where}: needs `text` (language -> text), e.g. "
                            "text = {{ pt_BR = \"Olá {{first_name}}\" }}")
    if medium == "email" and not template.subject:
        raise TemplateError(f"{where}: an e-mail needs `subject` (language -> text)")


def pick(texts: Mapping[str, str], language: str | None) -> str | None:
    """The text in the customer's language, else the base language, else the first one."""
    if not texts:
        return None
    language = language or DEFAULT_LANGUAGE
    if language in texts:
        return texts[language]
    base = language.split("_")[0].split("-")[0]
    for key, text in texts.items():
        if key.split("_")[0].split("-")[0] == base:
            return text
    return texts.get(DEFAULT_LANGUAGE) or next(iter(texts.values()))


class _Values(dict[str, object]):
    def __missing__(self, name: str) -> str:
        return ""  # checked at load; a value a trigger lacks for one person renders empty


def render(text: str | None, variables: Mapping[str, object]) -> str | None:
    if text is None:
        return None
    return text.format_map(_Values({k: "" if v is None else v for k, v in variables.items()}))
