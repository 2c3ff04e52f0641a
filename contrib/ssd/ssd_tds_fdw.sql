-- The SSD's tables on SQL Server as foreign tables in PostgreSQL (tds_fdw), for
-- ssd_contract_views.sql to read and ssd_refresh.sql to copy (README.md, "Running on the SSD").
-- Needs Debian's postgresql-15-tds-fdw, and a role that may create the extension (or has it).
--
-- psql variables:
--   :mssql_host      SQL Server's host name or address        required
--   :mssql_database  the database the SSD is built in         required
--   :mssql_user      a SQL Server login that may read it      required
--   :mssql_password  its password                             asked for when not set, so it
--                                                             stays out of the process list
--   :mssql_port      default 1433
--   :mssql_schema    the SSD's schema there                   default ssd_development (the
--                                                             SystemC build's)
--   :tds_version     default 7.4 (SQL Server 2012 and later)
--   :server          the foreign server's name                default ssd_mssql
--   :ssd_schema      the schema the foreign tables go into    default ssd_remote
--
-- Rerunnable: the server's options and the current user's mapping are replaced, and the
-- foreign tables dropped and imported again in one transaction, which drops the views over
-- them: run ssd_contract_views.sql after it. A failed import changes no table or view.
--
-- Written from tds_fdw's documentation. Tested only up to the import, against a port where no
-- server listens (tests/integration/test_ssd.sh): no row has been read through it.
\set ON_ERROR_STOP on
\if :{?mssql_host}
\else
\echo 'ssd_tds_fdw.sql: set -v mssql_host=, -v mssql_database= and -v mssql_user='
\quit
\endif
\if :{?mssql_database}
\else
\echo 'ssd_tds_fdw.sql: set -v mssql_database=NAME'
\quit
\endif
\if :{?mssql_user}
\else
\echo 'ssd_tds_fdw.sql: set -v mssql_user=LOGIN'
\quit
\endif
\if :{?mssql_port}
\else
\set mssql_port 1433
\endif
\if :{?mssql_schema}
\else
\set mssql_schema ssd_development
\endif
\if :{?tds_version}
\else
\set tds_version 7.4
\endif
\if :{?server}
\else
\set server ssd_mssql
\endif
\if :{?ssd_schema}
\else
\set ssd_schema ssd_remote
\endif
\if :{?mssql_password}
\else
\prompt 'SQL Server password: ' mssql_password
\endif

CREATE EXTENSION IF NOT EXISTS tds_fdw;

-- ALTER, not DROP ... CASCADE: dropping the server would drop the tables and views over it.
SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_foreign_server WHERE srvname = :'server')
    AS ssd_new_server \gset
\if :ssd_new_server
CREATE SERVER :"server" FOREIGN DATA WRAPPER tds_fdw
    OPTIONS (servername :'mssql_host', port :'mssql_port', database :'mssql_database',
             tds_version :'tds_version');
\else
ALTER SERVER :"server"
    OPTIONS (SET servername :'mssql_host', SET port :'mssql_port',
             SET database :'mssql_database', SET tds_version :'tds_version');
\endif
DROP USER MAPPING IF EXISTS FOR CURRENT_USER SERVER :"server";
CREATE USER MAPPING FOR CURRENT_USER SERVER :"server"
    OPTIONS (username :'mssql_user', password :'mssql_password');
CREATE SCHEMA IF NOT EXISTS :"ssd_schema";

-- The eleven tables ssd_contract_views.sql reads, and no others.
BEGIN;
DROP FOREIGN TABLE IF EXISTS
    :"ssd_schema".ssd_person, :"ssd_schema".ssd_family, :"ssd_schema".ssd_disability,
    :"ssd_schema".ssd_department, :"ssd_schema".ssd_professionals,
    :"ssd_schema".ssd_involvements, :"ssd_schema".ssd_cin_episodes,
    :"ssd_schema".ssd_cin_assessments, :"ssd_schema".ssd_assessment_factors,
    :"ssd_schema".ssd_cin_plans, :"ssd_schema".ssd_cp_plans CASCADE;
IMPORT FOREIGN SCHEMA :"mssql_schema"
    LIMIT TO (ssd_person, ssd_family, ssd_disability, ssd_department, ssd_professionals,
              ssd_involvements, ssd_cin_episodes, ssd_cin_assessments, ssd_assessment_factors,
              ssd_cin_plans, ssd_cp_plans)
    FROM SERVER :"server" INTO :"ssd_schema";
COMMIT;
