import jinja2


def render_note(template_text, **values):
    return jinja2.Template(template_text).render(**values)
