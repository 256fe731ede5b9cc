import jinja2

ENV = jinja2.Environment(loader=jinja2.PackageLoader("app"), autoescape=True)


def render_note(name, **values):
    return ENV.get_template(name).render(**values)
