"""The database: pools and deadlines, named SQL, migrations, dataset files. Nothing of HTTP here."""
