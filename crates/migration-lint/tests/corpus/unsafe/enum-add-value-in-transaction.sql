ALTER TYPE grade_level ADD VALUE 'pre-k';
