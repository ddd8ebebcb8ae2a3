-- LMS domain: courses, sections, enrollments, assignments, submissions, discussions,
-- question banks, quizzes, standards. Every table is tenant-scoped under forced RLS.
-- Composite foreign keys (tenant_id, x_id) make cross-tenant references impossible.
-- Counter caches are kept by the statement-level triggers of 0001.

CREATE TABLE courses (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id          bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    academic_year_id   bigint,
    created_by_id      bigint,
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    code               text NOT NULL DEFAULT '' CHECK (length(code) <= 50),
    description        text NOT NULL DEFAULT '' CHECK (length(description) <= 20000),
    settings           jsonb NOT NULL DEFAULT '{}',
    archived_at        timestamptz,
    assignments_count  integer NOT NULL DEFAULT 0,
    discussions_count  integer NOT NULL DEFAULT 0,
    quizzes_count      integer NOT NULL DEFAULT 0,
    enrollments_count  integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, academic_year_id) REFERENCES academic_years (tenant_id, id) ON DELETE SET NULL (academic_year_id),
    FOREIGN KEY (tenant_id, created_by_id) REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by_id)
);
CREATE INDEX courses_tenant_name_idx ON courses (tenant_id, name, id);
CREATE INDEX courses_academic_year_id_idx ON courses (tenant_id, academic_year_id);
CREATE INDEX courses_created_by_id_idx ON courses (tenant_id, created_by_id);

CREATE TABLE sections (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id          bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    course_id          bigint NOT NULL,
    term_id            bigint,
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    enrollments_count  integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, id, course_id),
    FOREIGN KEY (tenant_id, course_id) REFERENCES courses (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, term_id) REFERENCES terms (tenant_id, id) ON DELETE SET NULL (term_id)
);
CREATE INDEX sections_course_id_idx ON sections (tenant_id, course_id, id);
CREATE INDEX sections_term_id_idx ON sections (tenant_id, term_id);

-- course_id is denormalised from the section (kept consistent by the composite key) so
-- that visibility checks and the course's enrollments_count need no join.
CREATE TABLE enrollments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    user_id     bigint NOT NULL,
    section_id  bigint NOT NULL,
    course_id   bigint NOT NULL,
    role        text NOT NULL CHECK (role IN ('teacher', 'student', 'ta', 'observer')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, user_id, section_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, section_id, course_id) REFERENCES sections (tenant_id, id, course_id) ON DELETE CASCADE
);
CREATE INDEX enrollments_user_id_idx ON enrollments (tenant_id, user_id, course_id);
CREATE INDEX enrollments_section_id_idx ON enrollments (tenant_id, section_id, id);
CREATE INDEX enrollments_course_id_idx ON enrollments (tenant_id, course_id, user_id);

CREATE TABLE assignments (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id              bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    course_id              bigint NOT NULL,
    created_by_id          bigint,
    title                  text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    description            text NOT NULL DEFAULT '' CHECK (length(description) <= 50000),
    instructions           text NOT NULL DEFAULT '' CHECK (length(instructions) <= 50000),
    assignment_type        text NOT NULL DEFAULT 'homework'
                           CHECK (assignment_type IN ('homework', 'essay', 'project', 'lab', 'presentation', 'other')),
    points_possible        numeric(8,2) NOT NULL DEFAULT 100 CHECK (points_possible >= 0),
    due_at                 timestamptz,
    unlock_at              timestamptz,
    lock_at                timestamptz,
    allow_late_submission  boolean NOT NULL DEFAULT false,
    status                 text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'archived')),
    rubric_id              bigint,
    submissions_count      integer NOT NULL DEFAULT 0,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    CHECK (lock_at IS NULL OR unlock_at IS NULL OR lock_at > unlock_at),
    FOREIGN KEY (tenant_id, course_id) REFERENCES courses (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, created_by_id) REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by_id)
);
CREATE INDEX assignments_course_due_idx ON assignments (tenant_id, course_id, due_at, id);
CREATE INDEX assignments_created_by_id_idx ON assignments (tenant_id, created_by_id);

CREATE TABLE submissions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    assignment_id   bigint NOT NULL,
    user_id         bigint NOT NULL,
    attempt_number  integer NOT NULL CHECK (attempt_number >= 1),
    body            text NOT NULL DEFAULT '' CHECK (length(body) <= 200000),
    url             text CHECK (url IS NULL OR length(url) <= 2000),
    status          text NOT NULL DEFAULT 'submitted' CHECK (status IN ('draft', 'submitted', 'graded', 'returned')),
    late            boolean NOT NULL DEFAULT false,
    submitted_at    timestamptz,
    grade           numeric(8,2) CHECK (grade IS NULL OR grade >= 0),
    feedback        text CHECK (feedback IS NULL OR length(feedback) <= 50000),
    graded_by_id    bigint,
    graded_at       timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, assignment_id, user_id, attempt_number),
    FOREIGN KEY (tenant_id, assignment_id) REFERENCES assignments (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, graded_by_id) REFERENCES users (tenant_id, id) ON DELETE SET NULL (graded_by_id)
);
CREATE INDEX submissions_assignment_submitted_idx ON submissions (tenant_id, assignment_id, submitted_at, id);
CREATE INDEX submissions_user_id_idx ON submissions (tenant_id, user_id, assignment_id);
CREATE INDEX submissions_graded_by_id_idx ON submissions (tenant_id, graded_by_id);

CREATE TABLE discussions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id      bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    course_id      bigint NOT NULL,
    created_by_id  bigint,
    title          text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    description    text NOT NULL DEFAULT '' CHECK (length(description) <= 50000),
    pinned         boolean NOT NULL DEFAULT false,
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed', 'archived')),
    posts_count    integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, course_id) REFERENCES courses (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, created_by_id) REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by_id)
);
CREATE INDEX discussions_course_idx ON discussions (tenant_id, course_id, pinned DESC, id);
CREATE INDEX discussions_created_by_id_idx ON discussions (tenant_id, created_by_id);

CREATE TABLE discussion_posts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    discussion_id   bigint NOT NULL,
    created_by_id   bigint,
    parent_post_id  bigint,
    content         text NOT NULL CHECK (length(content) BETWEEN 1 AND 50000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, discussion_id) REFERENCES discussions (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, created_by_id) REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by_id),
    FOREIGN KEY (tenant_id, parent_post_id) REFERENCES discussion_posts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX discussion_posts_discussion_idx ON discussion_posts (tenant_id, discussion_id, id);
CREATE INDEX discussion_posts_parent_post_id_idx ON discussion_posts (tenant_id, parent_post_id);
CREATE INDEX discussion_posts_created_by_id_idx ON discussion_posts (tenant_id, created_by_id);

CREATE TABLE question_banks (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    created_by_id    bigint,
    title            text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    subject          text NOT NULL DEFAULT '' CHECK (length(subject) <= 100),
    grade_level      text NOT NULL DEFAULT '' CHECK (length(grade_level) <= 20),
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    questions_count  integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by_id) REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by_id)
);
CREATE INDEX question_banks_tenant_idx ON question_banks (tenant_id, id);
CREATE INDEX question_banks_created_by_id_idx ON question_banks (tenant_id, created_by_id);

CREATE TABLE questions (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id         bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    question_bank_id  bigint NOT NULL,
    type              text NOT NULL CHECK (type IN ('multiple_choice', 'true_false', 'short_answer', 'essay')),
    prompt            text NOT NULL CHECK (length(prompt) BETWEEN 1 AND 20000),
    choices           jsonb NOT NULL DEFAULT '[]',
    correct_answer    jsonb,
    points            numeric(8,2) NOT NULL DEFAULT 1 CHECK (points >= 0),
    position          integer NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, question_bank_id) REFERENCES question_banks (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX questions_bank_idx ON questions (tenant_id, question_bank_id, position, id);

CREATE TABLE quizzes (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id           bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    course_id           bigint NOT NULL,
    created_by_id       bigint,
    title               text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    instructions        text NOT NULL DEFAULT '' CHECK (length(instructions) <= 50000),
    time_limit_minutes  integer CHECK (time_limit_minutes IS NULL OR time_limit_minutes BETWEEN 1 AND 1440),
    attempts_allowed    integer NOT NULL DEFAULT 1 CHECK (attempts_allowed BETWEEN 1 AND 100),
    due_at              timestamptz,
    status              text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'archived')),
    attempts_count      integer NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, course_id) REFERENCES courses (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, created_by_id) REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by_id)
);
CREATE INDEX quizzes_course_idx ON quizzes (tenant_id, course_id, due_at, id);
CREATE INDEX quizzes_created_by_id_idx ON quizzes (tenant_id, created_by_id);

CREATE TABLE quiz_items (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    quiz_id      bigint NOT NULL,
    question_id  bigint NOT NULL,
    position     integer NOT NULL,
    points       numeric(8,2) NOT NULL DEFAULT 1 CHECK (points >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, quiz_id, question_id),
    FOREIGN KEY (tenant_id, quiz_id) REFERENCES quizzes (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, question_id) REFERENCES questions (tenant_id, id) ON DELETE RESTRICT
);
CREATE INDEX quiz_items_quiz_idx ON quiz_items (tenant_id, quiz_id, position, id);
CREATE INDEX quiz_items_question_id_idx ON quiz_items (tenant_id, question_id);

CREATE TABLE quiz_attempts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    quiz_id         bigint NOT NULL,
    user_id         bigint NOT NULL,
    attempt_number  integer NOT NULL CHECK (attempt_number >= 1),
    status          text NOT NULL DEFAULT 'in_progress' CHECK (status IN ('in_progress', 'submitted', 'graded')),
    started_at      timestamptz NOT NULL DEFAULT now(),
    submitted_at    timestamptz,
    score           numeric(8,2),
    percentage      numeric(5,2),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, quiz_id, user_id, attempt_number),
    FOREIGN KEY (tenant_id, quiz_id) REFERENCES quizzes (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX quiz_attempts_quiz_idx ON quiz_attempts (tenant_id, quiz_id, user_id, id);
CREATE INDEX quiz_attempts_user_id_idx ON quiz_attempts (tenant_id, user_id);
-- At most one attempt in progress per student and quiz.
CREATE UNIQUE INDEX quiz_attempts_one_in_progress ON quiz_attempts (tenant_id, quiz_id, user_id) WHERE status = 'in_progress';

CREATE TABLE attempt_answers (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    quiz_attempt_id  bigint NOT NULL,
    question_id      bigint NOT NULL,
    answer           jsonb NOT NULL,
    correct          boolean,
    points_awarded   numeric(8,2),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, quiz_attempt_id, question_id),
    FOREIGN KEY (tenant_id, quiz_attempt_id) REFERENCES quiz_attempts (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, question_id) REFERENCES questions (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX attempt_answers_question_id_idx ON attempt_answers (tenant_id, question_id);

CREATE TABLE standard_frameworks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    jurisdiction  text NOT NULL DEFAULT '' CHECK (length(jurisdiction) <= 100),
    subject       text NOT NULL DEFAULT '' CHECK (length(subject) <= 100),
    version       text NOT NULL DEFAULT '' CHECK (length(version) <= 50),
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
CREATE INDEX standard_frameworks_tenant_idx ON standard_frameworks (tenant_id, id);

CREATE TABLE standards (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id              bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    standard_framework_id  bigint NOT NULL,
    parent_id              bigint,
    code                   text NOT NULL CHECK (length(code) BETWEEN 1 AND 100),
    description            text NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
    grade_band             text NOT NULL DEFAULT '' CHECK (length(grade_band) <= 20),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, standard_framework_id, code),
    UNIQUE (tenant_id, id, standard_framework_id),
    FOREIGN KEY (tenant_id, standard_framework_id) REFERENCES standard_frameworks (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, parent_id, standard_framework_id) REFERENCES standards (tenant_id, id, standard_framework_id) ON DELETE CASCADE
);
CREATE INDEX standards_framework_parent_idx ON standards (tenant_id, standard_framework_id, parent_id, code, id);
CREATE INDEX standards_parent_id_idx ON standards (tenant_id, parent_id);

CREATE TABLE assignment_standards (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id      bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    assignment_id  bigint NOT NULL,
    standard_id    bigint NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, assignment_id, standard_id),
    FOREIGN KEY (tenant_id, assignment_id) REFERENCES assignments (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, standard_id) REFERENCES standards (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX assignment_standards_standard_id_idx ON assignment_standards (tenant_id, standard_id);

-- ---------------------------------------------------------------- counters

DO $$
DECLARE c text[];
BEGIN
    FOREACH c SLICE 1 IN ARRAY ARRAY[
        -- child table, parent table, fk column, counter column
        ['courses', 'tenants', 'tenant_id', 'courses_count'],
        ['assignments', 'courses', 'course_id', 'assignments_count'],
        ['discussions', 'courses', 'course_id', 'discussions_count'],
        ['quizzes', 'courses', 'course_id', 'quizzes_count'],
        ['enrollments', 'courses', 'course_id', 'enrollments_count'],
        ['enrollments', 'sections', 'section_id', 'enrollments_count'],
        ['submissions', 'assignments', 'assignment_id', 'submissions_count'],
        ['discussion_posts', 'discussions', 'discussion_id', 'posts_count'],
        ['questions', 'question_banks', 'question_bank_id', 'questions_count'],
        ['quiz_attempts', 'quizzes', 'quiz_id', 'attempts_count']]
    LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I
                          REFERENCING NEW TABLE AS counter_new_rows FOR EACH STATEMENT
                          EXECUTE FUNCTION counter_cache_insert(%L, %L, %L)',
                       c[1] || '_' || c[2] || '_' || c[4] || '_insert', c[1], c[2], c[3], c[4]);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I
                          REFERENCING OLD TABLE AS counter_old_rows FOR EACH STATEMENT
                          EXECUTE FUNCTION counter_cache_delete(%L, %L, %L)',
                       c[1] || '_' || c[2] || '_' || c[4] || '_delete', c[1], c[2], c[3], c[4]);
    END LOOP;
END
$$;

-- ---------------------------------------------------------------- updated_at and RLS

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['courses','sections','enrollments','assignments','submissions',
        'discussions','discussion_posts','question_banks','questions','quizzes','quiz_items',
        'quiz_attempts','attempt_answers','standard_frameworks','standards','assignment_standards']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION set_updated_at()',
                       t || '_updated_at', t);
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation_policy ON %I
                          USING (tenant_id = current_tenant_id())
                          WITH CHECK (tenant_id = current_tenant_id())', t);
    END LOOP;
END
$$;
