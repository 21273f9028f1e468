"""Django's migrations and ORM against a quorate node (see tests/mysql.rs,
django_migrations_run). Usage: migrate.py <workdir> <port> <password> <step>

Each step writes the `shop` app's models as they are at that step, makes the migration
with Django's own makemigrations, applies it with migrate, and checks what the ORM then
sees. Steps run in separate processes (Django cannot reload models). Any failure raises.
"""
import os
import sys

workdir, port, password, step = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])

MODELS = {
    1: '''
from django.db import models

class Author(models.Model):
    name = models.CharField(max_length=50)
    born = models.DateField(null=True)

class Book(models.Model):
    title = models.CharField(max_length=100)
    author = models.ForeignKey(Author, on_delete=models.CASCADE)
    pages = models.PositiveIntegerField(default=1)
    price = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    published = models.DateTimeField(null=True)
''',
    2: '''
import django
from django.db import models

class Publisher(models.Model):
    name = models.CharField(max_length=50, unique=True)

class Author(models.Model):
    name = models.CharField(max_length=80, db_index=True)
    born = models.DateField(null=True)
    rating = models.IntegerField(default=5)

class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.PROTECT, related_name='books')
    publisher = models.ForeignKey(Publisher, on_delete=models.SET_NULL, null=True)
    pages = models.PositiveIntegerField(default=10)
    price = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    published = models.DateTimeField(null=True)
    isbn = models.CharField(max_length=13, default='', blank=True)

    class Meta:
        # Django 5.1 renamed CheckConstraint's `check` to `condition`.
        constraints = [models.CheckConstraint(
            **{('condition' if django.VERSION >= (5, 1) else 'check'): models.Q(pages__lt=10000)},
            name='pages_sane')]
        unique_together = [('title', 'author')]
''',
    3: '''
from django.db import models

class Author(models.Model):
    name = models.CharField(max_length=80, db_index=True)
    born = models.DateField(null=True)
    rating = models.BigIntegerField(default=5)

class Book(models.Model):
    title = models.TextField()
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name='books')
    pages = models.PositiveIntegerField(default=10, null=True)
    price = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    published = models.DateTimeField(null=True)
''',
}

app = os.path.join(workdir, "shop")
os.makedirs(os.path.join(app, "migrations"), exist_ok=True)
for f in ("__init__.py", os.path.join("migrations", "__init__.py")):
    open(os.path.join(app, f), "a").close()
with open(os.path.join(app, "models.py"), "w") as f:
    f.write(MODELS[step])
sys.path.insert(0, workdir)

import pymysql

pymysql.install_as_MySQLdb()

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "shop"],
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": "djapp",
            "USER": "root",
            "PASSWORD": password,
            "HOST": "127.0.0.1",
            "PORT": port,
            # The first login of an account on a node needs TLS (caching_sha2_password).
            "OPTIONS": {"ssl": {"check_hostname": False, "verify_mode": 0}},
        }
    },
    USE_TZ=True,
    # CONVERT_TZ knows no named zone (as MySQL without its time zone tables).
    TIME_ZONE="UTC",
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
)
django.setup()

import datetime

from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

call_command("makemigrations", "shop", interactive=False, verbosity=0)
call_command("migrate", interactive=False, verbosity=0)

from shop.models import Author, Book


def check(cond, what):
    if not cond:
        raise AssertionError(what)


if step == 1:
    a = Author.objects.create(name="ann")
    Book.objects.create(title="t", author=a, pages=3)
    Book.objects.create(title="u", author=a)
    check(Book.objects.filter(author__name="ann").count() == 2, "two books")
elif step == 2:
    from shop.models import Publisher

    a = Author.objects.get(name="ann")
    # Rows that existed when the columns were added keep the defaults they got.
    check(a.rating == 5, f"rating {a.rating}")
    check(list(Book.objects.order_by("id").values_list("isbn", flat=True)) == ["", ""], "isbn")
    try:
        a.delete()
        raise AssertionError("an author with books was deleted")
    except ProtectedError:
        pass
    p = Publisher.objects.create(name="pub")
    Book.objects.filter(title="t").update(
        publisher=p, published=datetime.datetime(2024, 3, 5, 10, 0, tzinfo=datetime.timezone.utc)
    )
    p.delete()
    check(Book.objects.get(title="t").publisher is None, "SET_NULL")
    check(Book.objects.filter(published__date=datetime.date(2024, 3, 5)).count() == 1, "__date")
    try:
        with transaction.atomic():
            Book.objects.create(title="big", author=a, pages=20000)
        raise AssertionError("CHECK pages_sane not enforced")
    except IntegrityError:
        pass
    try:
        with transaction.atomic():
            Book.objects.create(title="t", author=a)
        raise AssertionError("unique_together not enforced")
    except IntegrityError:
        pass
elif step == 3:
    check(Book.objects.count() == 2, "books kept")
    # The CheckConstraint is gone.
    Book.objects.create(title="long", author=Author.objects.get(name="ann"), pages=20000)
    Book.objects.filter(title="long").delete()
    Book.objects.create(title="x" * 300, author=Author.objects.get(name="ann"), pages=None)
    check(Book.objects.filter(pages__isnull=True).count() == 1, "pages nullable")
    Author.objects.get(name="ann").delete()
    check(Book.objects.count() == 0, "CASCADE")
print(f"step {step} ok")
