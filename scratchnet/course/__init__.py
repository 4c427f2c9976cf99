"""The lessons as a course: find and list them, run them, and build them into a website.

- ``catalogue``: where the lessons folder is and what each lesson is called;
- ``execute``: run one notebook top to bottom in a fresh kernel on this interpreter;
- ``book``: lay the executed notebooks out as a Jupyter Book and build its HTML;
- ``destination``: the folder the website goes to, never replaced by surprise.
"""
